/**
 * readwritesplit against readconnroute, HAProxy (mode tcp, one thread) and MariaDB directly,
 * side by side in one run on one throw-away GTID primary with two replicas:
 * sysbench oltp_point_select, oltp_read_only and oltp_read_write (text protocol) at the
 * given thread counts: QPS, p95 latency and each proxy's CPU time per query (user+system
 * ticks from /proc). readconnroute (router_options=master), HAProxy and "direct" all go to
 * the primary; readwritesplit spreads reads over the replicas, so its QPS is not the
 * comparison that matters on one 2-core machine: its CPU per query is (issue 11's target:
 * at most 1.3x readconnroute's on point_select).
 *
 * The machine is shared (sysbench, three servers and the proxies on two cores) and a run's CPU
 * per query moves by ±10 % from one run to the next, so each cell runs `--rounds` interleaved
 * rounds (every target once per round) and reports each target's median; the ratio is given
 * as the ratio of the medians and as the median of the per-round ratios.
 *
 * With --baseline DIR (a checkout of an earlier commit sharing node_modules), the same
 * readconnroute service also runs on that checkout's Weir, for a before/after figure; with
 * --baseline-rws its readwritesplit service too. A second Weir process beside the first
 * shares the machine's caches with it, which raises both Weirs' CPU per query: compare the
 * ratio without a baseline.
 *
 *   node --import tsx test/bench/rwsplit.bench.ts [--seconds 10] [--rounds 3] [--threads 1,16] [--baseline /tmp/weir-base [--baseline-rws]]
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, startReplicationTopology } from '../harness/mariadb.ts';
import { removeDir, tempDir } from '../harness/weir.ts';
import {
  ensureTools,
  mariadbVersion,
  median,
  prepareBenchDatabase,
  prepareSysbenchTable,
  sysbenchWithCpu,
  untilLoginWorks,
} from './lib.ts';
import { benchWeirConfig, startHAProxy, startWeirWithConfig, stopProcesses, type BenchWeir } from './proxies.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string', default: '1,16' },
    baseline: { type: 'string' },
    'baseline-rws': { type: 'boolean', default: false },
    tests: { type: 'string', default: 'oltp_point_select,oltp_read_only,oltp_read_write' },
  },
});
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const THREADS = args.threads!.split(',').map(Number);
const TESTS = args.tests!.split(',');

async function main(): Promise<void> {
  ensureTools([
    ['sysbench', 'sysbench'],
    ['haproxy', 'haproxy'],
  ]);
  const topo = await startReplicationTopology(2);
  const dir = tempDir('weir-rwsbench-');
  const children: ChildProcess[] = [];
  try {
    await prepareBenchDatabase(topo.primary);
    const servers = [topo.primary, ...topo.replicas];
    const ports = { rcr: await freePort(), rws: await freePort(), base: await freePort(), baseRws: await freePort() };
    const config = (rcrPort: number, rwsPort: number | null) =>
      benchWeirConfig(servers, [
        { name: 'RCR', port: rcrPort, router: 'readconnroute', routerOptions: 'master' },
        ...(rwsPort === null ? [] : [{ name: 'RWS', port: rwsPort, router: 'readwritesplit' as const }]),
      ]);
    const weir = await startWeirWithConfig(join(dir, 'weir'), config(ports.rcr, ports.rws));
    children.push(weir.child);
    let base: BenchWeir | null = null;
    if (args.baseline) {
      base = await startWeirWithConfig(
        join(dir, 'base'),
        config(ports.base, args['baseline-rws'] ? ports.baseRws : null),
        { root: args.baseline },
      );
      children.push(base.child);
    }
    const haproxy = await startHAProxy(dir, topo.primary.port);
    children.push(haproxy.child);

    await prepareSysbenchTable(topo.primary, topo.replicas);
    await untilLoginWorks(ports.rcr);
    await untilLoginWorks(ports.rws);
    if (base) await untilLoginWorks(ports.base);
    if (base && args['baseline-rws']) await untilLoginWorks(ports.baseRws);

    const targets: Array<[string, number, number | null]> = [
      ['direct', topo.primary.port, null],
      ['HAProxy', haproxy.port, haproxy.child.pid!],
      ['readconnroute', ports.rcr, weir.child.pid!],
      ...(base ? [['readconnroute (before the cut)', ports.base, base.child.pid!] as [string, number, number]] : []),
      ['readwritesplit', ports.rws, weir.child.pid!],
      ...(base && args['baseline-rws']
        ? [['readwritesplit (baseline)', ports.baseRws, base.child.pid!] as [string, number, number]]
        : []),
    ];
    console.log(
      `\nsysbench (text protocol), ${SECONDS} s per run, ${ROUNDS} interleaved rounds (medians), a GTID primary and 2 replicas (MariaDB ${await mariadbVersion(topo.primary)}), one 2-core machine for client, proxies and servers\n`,
    );
    console.log('test                threads  target                          QPS     p95 ms  proxy CPU µs/query');
    for (const test of TESTS) {
      for (const threads of THREADS) {
        const runs = new Map<string, Array<{ qps: number; p95: number; cpuPerQuery: number }>>();
        const roundRatios: number[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          for (const [name, port, pid] of targets) {
            const res = sysbenchWithCpu(test, { port, pid }, threads, SECONDS);
            if (!runs.has(name)) runs.set(name, []);
            runs.get(name)!.push(res);
          }
          roundRatios.push(
            runs.get('readwritesplit')![round]!.cpuPerQuery / runs.get('readconnroute')![round]!.cpuPerQuery,
          );
        }
        const cpu: Record<string, number> = {};
        for (const [name, , pid] of targets) {
          const rs = runs.get(name)!;
          cpu[name] = median(rs.map((r) => r.cpuPerQuery));
          console.log(
            [
              test.padEnd(19),
              String(threads).padStart(7),
              ' ' + name.padEnd(30),
              median(rs.map((r) => r.qps))
                .toFixed(0)
                .padStart(7),
              String(median(rs.map((r) => r.p95))).padStart(9),
              pid ? cpu[name]!.toFixed(1).padStart(19) : '-'.padStart(19),
            ].join(' '),
          );
        }
        const ratio = cpu.readwritesplit! / cpu.readconnroute!;
        const before = cpu['readconnroute (before the cut)'];
        const rwsBefore = cpu['readwritesplit (baseline)'];
        console.log(
          `${''.padEnd(28)}readwritesplit/readconnroute CPU per query: ${ratio.toFixed(2)} ` +
            `(per round: ${roundRatios.map((r) => r.toFixed(2)).join(', ')}; median ${median(roundRatios).toFixed(2)})` +
            (before ? `; readconnroute after/before the cut: ${(cpu.readconnroute! / before).toFixed(2)}` : '') +
            (rwsBefore ? `; readwritesplit now/baseline: ${(cpu.readwritesplit! / rwsBefore).toFixed(2)}` : ''),
        );
      }
    }
  } finally {
    await stopProcesses(children);
    await topo.destroy();
    removeDir(dir);
  }
}

await main();
