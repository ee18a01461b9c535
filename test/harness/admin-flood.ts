/**
 * A burst of wrong-password requests at an admin API, from a process of its own so that the
 * requests land together (as from a real attacker) rather than trickling out of the event
 * loop under test. It connects every socket first, then writes every request at once.
 *
 *   node --import tsx test/harness/admin-flood.ts --port 8989 --count 300 [--user admin] [--spread] [--progress]
 *
 * --spread: each request from its own loopback address (127.0.x.y) and with its own user
 * name, so that no per-address or per-user throttle holds the burst back.
 * Prints `start` when the requests are written, then one JSON line: {statuses, ms}.
 * --progress: also prints `open N` (between the two) each time one of its connections
 * closes, N being how many are still open, so a caller can act on the flood's state.
 */
import { connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    count: { type: 'string', default: '200' },
    user: { type: 'string', default: 'admin' },
    password: { type: 'string', default: 'wrong' },
    spread: { type: 'boolean', default: false },
    progress: { type: 'boolean', default: false },
  },
});
const port = Number(args.port);
const count = Number(args.count);

const sockets = await Promise.all(
  Array.from(
    { length: count },
    (_, i) =>
      new Promise<Socket>((resolve) => {
        const localAddress = args.spread ? `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}` : undefined;
        const s = connect({ port, host: '127.0.0.1', localAddress }, () => resolve(s));
        s.on('error', () => undefined);
      }),
  ),
);
const started = Date.now();
console.log('start');
let open = sockets.length;
const statuses = await Promise.all(
  sockets.map(
    (s, i) =>
      new Promise<number>((resolve) => {
        const user = args.spread ? `${args.user}${i}` : args.user!;
        let reply = '';
        s.on('data', (d) => (reply += d.toString('latin1')));
        s.on('close', () => {
          open--;
          if (args.progress) console.log(`open ${open}`);
          resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1] ?? 0));
        });
        s.write(
          `GET /servers HTTP/1.1\r\nHost: weir\r\nAuthorization: Basic ${Buffer.from(`${user}:${args.password}`).toString('base64')}\r\nConnection: close\r\n\r\n`,
        );
      }),
  ),
);
console.log(JSON.stringify({ statuses, ms: Date.now() - started }));
