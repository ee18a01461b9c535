/**
 * connection_keepalive (MaxScale's service parameter, default 300 s): a readwritesplit
 * session may leave a backend unused for a long time (the primary of a read-only client, a
 * replica after a switch to the primary). The server would close it after its wait_timeout,
 * and the session would find it gone when it next needs it. So a backend with nothing in
 * flight that has not been written to for `seconds` gets a COM_PING, whose answer is
 * dropped. 0 turns it off.
 */
import type { Backend } from '../../backend.ts';
import { Command } from '../../protocol/commands.ts';
import { packet } from '../../protocol/packets.ts';

const PING = packet(0, Buffer.from([Command.PING]));

export class Keepalive {
  private readonly timer: NodeJS.Timeout | null = null;
  /** Pings sent (for tests and diagnostics). */
  pings = 0;

  constructor(
    private readonly seconds: number,
    private readonly backends: () => Iterable<Backend>,
  ) {
    if (!(seconds > 0)) return;
    // Checked twice per period: a backend is pinged between 1 and 1.5 periods after its last use.
    this.timer = setInterval(() => this.tick(), Math.max(250, (seconds * 1000) / 2));
    this.timer.unref();
  }

  private tick(): void {
    const idleSince = performance.now() - this.seconds * 1000;
    for (const b of this.backends()) {
      if (b.closed || b.pending > 0 || b.lastWriteAt > idleSince) continue;
      this.pings++;
      b.write(PING, { command: Command.PING, sink: 'discard', done: () => undefined });
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
