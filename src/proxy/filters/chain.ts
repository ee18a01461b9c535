/**
 * A session's filter chain in the query path. Only sessions of services with filters have
 * one; the others forward bytes untouched and pay nothing for it.
 *
 * Client bytes are cut into packets. A packet that starts a command (sequence 0) is a
 * statement when it is COM_QUERY, COM_STMT_PREPARE or COM_STMT_EXECUTE: it passes through
 * the filters in order, which may rewrite it, hold it or close the session; everything
 * else (other commands, LOCAL INFILE data, continuation packets) goes on as it came. The
 * server's bytes go to the client untouched while the reply tracker follows them; each
 * completed reply is handed back to the filters with its statement.
 */
import { Command, ReplyTracker, type Reply } from '../reply-tracker.ts';
import type { FilterSession, Statement } from './types.ts';

const STATEMENTS = new Set<number>([Command.QUERY, Command.STMT_PREPARE, Command.STMT_EXECUTE]);
const MAX_PACKET = 0xffffff;

export interface ChainIo {
  /** Sends bytes on to the backend (through the session's own forwarding). */
  forward(bytes: Buffer): void;
  /** Closes the session with an error the client sees. */
  refuse(message: string, sequence: number): void;
  pauseClient(): void;
  resumeClient(): void;
  /** Each statement with its completed reply, after the filters saw it (for watchers). */
  observe(statement: Statement, reply: Reply): void;
  /** A filter threw; the statement went on as if it had not been there. */
  filterFailed(err: Error): void;
}

export class FilterChain {
  private readonly tracker: ReplyTracker;
  /** Statements whose replies are awaited, in order (null: a command no filter saw). */
  private readonly awaiting: Array<Statement | null> = [];
  /** Prepared statements' text by the id the server gave them. */
  private readonly prepared = new Map<number, string>();
  // Client packet framing.
  private parts: Buffer[] = [];
  private partsLength = 0;
  private queue: Buffer[] = [];
  private holding = false;
  private inContinuation = false;
  private closed = false;
  /** A filter closed the session: nothing more is routed. */
  private refused = false;

  constructor(private readonly filters: FilterSession[], capabilities: number, private readonly io: ChainIo) {
    // Weir offers clients no MariaDB extended capabilities, so none are in effect with the backend.
    this.tracker = new ReplyTracker(capabilities, 0, (reply) => this.onReply(reply));
  }

  /** Bytes the client sent. */
  fromClient(chunk: Buffer): void {
    this.parts.push(chunk);
    this.partsLength += chunk.length;
    for (let p = this.nextPacket(); p; p = this.nextPacket()) this.queue.push(p);
    this.drain();
  }

  /** Bytes the backend sent, on their way to the client. */
  fromServer(chunk: Buffer): void {
    this.tracker.feed(chunk);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const f of this.filters) this.safely(() => f.close?.());
  }

  /** A filter that throws (a full disk, say) costs its own work, never the session or the process. */
  private safely<T>(work: () => T): T | undefined {
    try {
      return work();
    } catch (err) {
      this.io.filterFailed(err as Error);
      return undefined;
    }
  }

  private nextPacket(): Buffer | null {
    if (this.partsLength < 4) return null;
    const head = this.parts[0]!.length >= 4 ? this.parts[0]! : Buffer.concat(this.parts, this.partsLength);
    const length = head[0]! | (head[1]! << 8) | (head[2]! << 16);
    // Large packets arrive in many reads: join them once, when the packet is complete.
    if (this.partsLength < 4 + length) return null;
    let all = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.partsLength);
    const raw = all.subarray(0, 4 + length);
    all = all.subarray(4 + length);
    this.parts = all.length ? [all] : [];
    this.partsLength = all.length;
    return raw;
  }

  private drain(): void {
    while (!this.holding && !this.closed && !this.refused && this.queue.length) this.handle(this.queue.shift()!);
  }

  private handle(raw: Buffer): void {
    const length = raw.length - 4;
    const continuation = this.inContinuation;
    this.inContinuation = length === MAX_PACKET;
    if (continuation || raw[3] !== 0 || length === 0) return this.io.forward(raw);
    const command = raw[4]!;
    this.tracker.expect(command);
    // A statement id too short to read is the backend's to refuse; the filters skip it.
    const statementId = length >= 5 ? raw.readUInt32LE(5) : -1;
    if (command === Command.STMT_CLOSE) this.prepared.delete(statementId);
    if (command === Command.RESET_CONNECTION || command === Command.CHANGE_USER) this.prepared.clear();
    // Statements of 16 MiB and more go on as they are: filters see what fits one packet.
    if (!STATEMENTS.has(command) || this.inContinuation || (command === Command.STMT_EXECUTE && !this.prepared.has(statementId))) {
      if (!NO_REPLY.has(command)) this.awaiting.push(null);
      return this.io.forward(raw);
    }
    const sql = command === Command.STMT_EXECUTE ? this.prepared.get(statementId)! : raw.toString('utf8', 5);
    const statement: Statement = { sql, command, routedAt: 0, arrivedAt: Date.now() };
    let out = raw;
    let delay = 0;
    for (const f of this.filters) {
      const verdict = this.safely(() => f.statement?.(statement));
      if (!verdict) continue;
      if (verdict.close) {
        // Stop routing at once; the filters are closed with the session (close()).
        this.refused = true;
        return this.io.refuse(verdict.close, 1);
      }
      if (verdict.sql !== undefined && command !== Command.STMT_EXECUTE && verdict.sql !== statement.sql) {
        statement.sql = verdict.sql;
        out = framePackets(Buffer.concat([Buffer.from([command]), Buffer.from(verdict.sql, 'utf8')]));
      }
      if (verdict.delayMs) delay = Math.max(delay, verdict.delayMs);
    }
    const send = () => {
      statement.routedAt = performance.now();
      this.awaiting.push(statement);
      this.io.forward(out);
    };
    if (delay <= 0) return send();
    // Held: nothing after it goes before it, and the client is not read meanwhile.
    this.holding = true;
    this.io.pauseClient();
    setTimeout(() => {
      this.holding = false;
      if (this.closed || this.refused) return;
      send();
      this.io.resumeClient();
      this.drain();
    }, delay).unref();
  }

  private onReply(reply: Reply): void {
    const statement = this.awaiting.shift();
    if (!statement) return;
    if (statement.command === Command.STMT_PREPARE && reply.statementId !== null) this.prepared.set(reply.statementId, statement.sql);
    for (let i = this.filters.length - 1; i >= 0; i--) this.safely(() => this.filters[i]!.reply?.(statement, reply));
    this.safely(() => this.io.observe(statement, reply));
  }
}

const NO_REPLY = new Set<number>([Command.QUIT, Command.STMT_CLOSE, Command.STMT_SEND_LONG_DATA]);

/** A command payload as packets: 16 MiB - 1 bytes each, and an empty one after a full last one. */
function framePackets(payload: Buffer): Buffer {
  const packets: Buffer[] = [];
  let sequence = 0;
  for (let i = 0; ; i += MAX_PACKET) {
    const part = payload.subarray(i, i + MAX_PACKET);
    const header = Buffer.alloc(4);
    header.writeUIntLE(part.length, 0, 3);
    header[3] = sequence++ & 0xff;
    packets.push(header, part);
    if (part.length < MAX_PACKET) break;
  }
  return Buffer.concat(packets);
}
