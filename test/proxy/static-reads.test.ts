/**
 * Static read buffers (src/proxy/static-reads.ts): a relay that reads into one reused buffer
 * and writes views of it must deliver every byte intact even when the destination reads
 * slowly, so that writes queue and the buffer they point into must not be read into again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { staticReadsSupported, useStaticReads, wrote } from '../../src/proxy/static-reads.ts';

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
}

/** Relays `from` to `to` as Weir's backends do: views written, backpressure by pausing. */
function relay(from: Socket, to: Socket, paused: () => void): boolean {
  return useStaticReads(from, (view) => {
    const ok = to.write(view);
    wrote(to);
    if (!ok) {
      paused();
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
}

test('a relay on static reads delivers 16 MiB intact through an accepted socket to a reader that starts late', async () => {
  const payload = randomBytes(16 << 20);
  const sent = createHash('sha256').update(payload).digest('hex');
  const hash = createHash('sha256');
  let received = 0;
  let pauses = 0;
  const relays: boolean[] = [];

  // sender -> [accepted socket | relay | connected socket] -> receiver. The receiver starts
  // reading only once the relay had to pause: by then writes of views have queued.
  let receiverSocket: Socket | null = null;
  let ended: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (ended = resolve));
  const receiver = createServer((s) => {
    s.pause();
    receiverSocket = s;
    s.on('data', (d: Buffer) => {
      hash.update(d);
      received += d.length;
    });
    s.on('end', () => ended());
    s.on('error', () => ended());
  });
  const receiverPort = await listen(receiver);
  const relayServer = createServer((accepted) => {
    const out = connect(receiverPort, '127.0.0.1', () => {
      relays.push(
        relay(accepted, out, () => {
          if (pauses++ === 0) receiverSocket?.resume();
        }),
      );
      accepted.on('end', () => out.end());
    });
  });
  const relayPort = await listen(relayServer);

  const sender = connect(relayPort, '127.0.0.1');
  await new Promise<void>((resolve) => sender.on('connect', resolve));
  // Many small writes, one per turn of the event loop, as statements arrive: many small
  // reads into the one buffer, each queued behind the last once the receiver stops reading.
  for (let i = 0; i < payload.length; i += 1000) {
    if (!sender.write(payload.subarray(i, i + 1000))) await new Promise((r) => sender.once('drain', r));
    else await new Promise(setImmediate);
  }
  sender.end();
  await done;
  sender.destroy();
  relayServer.close();
  receiver.close();

  assert.deepEqual(relays, [true], 'static reads were switched on for the accepted socket');
  assert.equal(staticReadsSupported(), true, 'this Node supports static reads');
  assert.ok(pauses > 0, 'the relay had to wait for the reader (writes queued)');
  assert.equal(received, payload.length);
  assert.equal(hash.digest('hex'), sent, 'every byte arrived, in order');
});
