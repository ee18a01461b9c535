/**
 * The pass-through path's own cost per client read, without sockets or servers: a
 * ClientSession in the routing phase whose router drops what it is given, fed the same
 * reads over and over. What it measures is the header walk at packet starts (scanCommands:
 * COM_CHANGE_USER, KILL, watchers' bookkeeping), so that a change to it can be compared with
 * the code before it on a loaded machine: nanoseconds per read (median of rounds), or, with
 * --iterations and no rounds, a fixed amount of work to count instructions of under
 * `valgrind --tool=callgrind` (run twice with different counts; the difference is the loop's).
 *
 *   node --import tsx test/bench/passthrough-scan.bench.ts [--rounds 7] [--reads 1000000]
 *   valgrind --tool=callgrind node --import tsx test/bench/passthrough-scan.bench.ts --workload point --iterations 200000
 */
import { EventEmitter } from 'node:events';
import { parseArgs } from 'node:util';
import { ClientSession } from '../../src/proxy/client-session.ts';
import { packet } from '../../src/proxy/protocol/packets.ts';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    reads: { type: 'string', default: '1000000' },
    workload: { type: 'string' },
    iterations: { type: 'string' },
  },
});

const query = (sql: string) => packet(0, Buffer.concat([Buffer.from([0x03]), Buffer.from(sql)]));
const POINT = 'SELECT c FROM sbtest1 WHERE id=4242';

/** What one client read holds. */
const WORKLOADS: Record<string, Buffer> = {
  // sysbench oltp_point_select: one statement per read.
  point: query(POINT),
  // A statement with a leading comment (an ORM's or a tracer's tag).
  comment: query(`/* app=shop,span=4f2a9c */ ${POINT}`),
  // 20 statements coalesced in one read (a pipelining client).
  pipelined: Buffer.concat(Array.from({ length: 20 }, () => query(POINT))),
  // The middle of a large statement: no packet starts in it.
  bulk: Buffer.alloc(64 * 1024, 0x41),
};

function session(): { forward(chunk: Buffer): void } {
  const socket = Object.assign(new EventEmitter(), { setNoDelay: () => undefined, remoteAddress: '127.0.0.1' });
  const deps = {
    core: { sessions: { allocateId: () => 1 }, queries: { active: false } },
    logger: {},
    accounts: {},
    tls: null,
    filters: {},
  };
  const s = new ClientSession(deps as never, { name: 'bench', params: {} } as never, socket as never) as any;
  s.phase = 'routing';
  s.passthrough = true;
  s.router = { passthrough: true, forwardRaw: () => undefined };
  // Timing replies is not this benchmark's business.
  s.replyPendingSince = 1;
  return {
    forward: (chunk) => {
      // The bulk workload continues a packet that never ends.
      if (chunk === WORKLOADS.bulk) s.packetLeft = 1 << 30;
      s.forwardRaw(chunk);
    },
  };
}

function run(name: string, reads: number): number {
  const s = session();
  const chunk = WORKLOADS[name]!;
  const start = process.hrtime.bigint();
  for (let i = 0; i < reads; i++) s.forward(chunk);
  return Number(process.hrtime.bigint() - start) / reads;
}

if (args.iterations) {
  const name = args.workload ?? 'point';
  run(name, 20_000); // warm-up: optimised code before the counted loop
  run(name, Number(args.iterations));
} else {
  const reads = Number(args.reads);
  const names = args.workload ? [args.workload] : Object.keys(WORKLOADS);
  for (const n of names) run(n, reads / 10);
  const results: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < Number(args.rounds); r++) for (const n of names) results[n]!.push(run(n, reads));
  for (const n of names) {
    const sorted = results[n]!.sort((a, b) => a - b);
    console.log(
      `${n.padEnd(10)} median ${sorted[sorted.length >> 1]!.toFixed(1)} ns/read  (min ${sorted[0]!.toFixed(1)}, max ${sorted[sorted.length - 1]!.toFixed(1)})`,
    );
  }
}
