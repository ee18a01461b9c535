/**
 * Issue 13's hot-path targets, side by side in one run: HAProxy (mode tcp, one thread),
 * Weir readconnroute and Weir readwritesplit on sysbench oltp_point_select and
 * oltp_read_only (text protocol), on one GTID primary with one replica. readconnroute
 * (router_options=master) and HAProxy go to the primary; readwritesplit sends reads to the
 * replica. For each proxy: QPS, p95, CPU µs per query (user+system ticks from /proc over the
 * run) and, for Weir, garbage collections per 10k queries (`--trace-gc` lines).
 *
 * With --baseline DIR (a checkout of an earlier commit, e.g. /work/main, with its own
 * node_modules), that checkout's Weir runs the same two services in a second process, for
 * before/after figures in the same run. Rounds are interleaved (every target once per
 * round) and the median of the rounds is reported, since the machine is shared.
 *
 * Ends with each target and PASS/MISS (the no-regression guard):
 *   1. readconnroute: CPU per query ≤ 1.2× HAProxy's and QPS ≥ 0.9× HAProxy's (16 threads,
 *      point_select and read_only);
 *   2. readwritesplit: CPU per query ≤ 1.5× HAProxy's on point_select (16 threads).
 *
 *   node --import tsx test/bench/hotpath.bench.ts [--seconds 10] [--threads 16] [--rounds 2] [--baseline /work/main]
 *     [--profile DIR]   writes a V8 CPU profile of this checkout's Weir (--cpu-prof) to DIR
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, startReplicationTopology } from '../harness/mariadb.ts';
import { removeDir, tempDir } from '../harness/weir.ts';
import {
  ensureTools,
  loadAverage,
  mariadbVersion,
  median,
  prepareBenchDatabase,
  prepareSysbenchTable,
  sysbenchWithCpu,
  untilLoginWorks,
} from './lib.ts';
import { benchWeirConfig, startHAProxy, startWeirWithConfig, stopProcesses } from './proxies.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    threads: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '2' },
    tests: { type: 'string', default: 'oltp_point_select,oltp_read_only' },
    baseline: { type: 'string' },
    profile: { type: 'string' },
  },
});
const SECONDS = Number(args.seconds);
const THREADS = args.threads!.split(',').map(Number);
const ROUNDS = Number(args.rounds);
const TESTS = args.tests!.split(',');

interface Target {
  name: string;
  port: number;
  pid: number | null;
  /** Garbage collections so far (Weir only). */
  gcs: (() => Promise<number>) | null;
}

interface Figures {
  qps: number;
  p95: number;
  cpu: number;
  gcPer10k: number | null;
}

const GC_COUNT = fileURLToPath(new URL('gc-count.mjs', import.meta.url));

/** Asks a Weir started with gc-count.mjs for its GC count so far. */
const gcCounter = (pid: number, output: () => string) => async (): Promise<number> => {
  const seen = (output().match(/gc-count \d+/g) ?? []).length;
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 200; i++) {
    const all = output().match(/gc-count (\d+)/g) ?? [];
    if (all.length > seen) return Number(all.at(-1)!.split(' ')[1]);
    await sleep(10);
  }
  throw new Error('the benchmarked Weir did not report its GC count');
};

async function main(): Promise<void> {
  ensureTools([
    ['sysbench', 'sysbench'],
    ['haproxy', 'haproxy'],
  ]);
  const topo = await startReplicationTopology(1);
  const dir = tempDir('weir-hotpath-');
  const children: ChildProcess[] = [];
  try {
    await prepareBenchDatabase(topo.primary);
    const servers = [topo.primary, ...topo.replicas];

    const startWeir = async (label: string, root: string | undefined, nodeArgs: string[]) => {
      const ports = { rcr: await freePort(), rws: await freePort() };
      const config = benchWeirConfig(servers, [
        { name: 'RCR', port: ports.rcr, router: 'readconnroute', routerOptions: 'master' },
        { name: 'RWS', port: ports.rws, router: 'readwritesplit' },
      ]);
      const w = await startWeirWithConfig(join(dir, label), config, {
        root,
        nodeArgs: ['--import', GC_COUNT, ...nodeArgs],
      });
      children.push(w.child);
      return { ...w, ports };
    };
    const weir = await startWeir(
      'new',
      undefined,
      args.profile ? ['--cpu-prof', `--cpu-prof-dir=${args.profile}`] : [],
    );
    const base = args.baseline ? await startWeir('base', args.baseline, []) : null;

    const haproxy = await startHAProxy(dir, topo.primary.port);
    children.push(haproxy.child);

    process.stderr.write('preparing the sbtest table\n');
    await prepareSysbenchTable(topo.primary, topo.replicas);
    for (const w of [weir, base]) {
      if (!w) continue;
      await untilLoginWorks(w.ports.rcr);
      await untilLoginWorks(w.ports.rws);
    }

    /** Both services of one Weir, each asking that Weir for its GC count. */
    const weirTargets = (w: Awaited<ReturnType<typeof startWeir>>, suffix: string): Target[] =>
      (['readconnroute', 'readwritesplit'] as const).map((router) => ({
        name: router + suffix,
        port: router === 'readconnroute' ? w.ports.rcr : w.ports.rws,
        pid: w.child.pid!,
        gcs: gcCounter(w.child.pid!, w.output),
      }));
    const targets: Target[] = [
      { name: 'HAProxy', port: haproxy.port, pid: haproxy.child.pid!, gcs: null },
      ...weirTargets(weir, ''),
      ...(base ? weirTargets(base, ' (before)') : []),
    ];

    const loadStart = loadAverage();
    console.log(
      `\nsysbench (text protocol), ${SECONDS} s per run, ${ROUNDS} interleaved rounds (medians), a GTID primary and 1 replica ` +
        `(MariaDB ${await mariadbVersion(topo.primary)}), one 2-core machine for client, proxies and servers; ` +
        `load average at start ${loadStart}\n`,
    );
    console.log(
      'test                threads  target                        QPS     p95 ms  CPU µs/query  GCs/10k q  QPS/HAProxy  CPU/HAProxy',
    );
    const results = new Map<string, Figures>();
    for (const test of TESTS) {
      for (const threads of THREADS) {
        const runs = new Map<string, Figures[]>();
        for (let round = 0; round < ROUNDS; round++) {
          for (const t of targets) {
            process.stderr.write(`  ${test} ${threads} threads, round ${round + 1}: ${t.name}\n`);
            const gc0 = (await t.gcs?.()) ?? 0;
            const { qps, p95, cpuPerQuery } = sysbenchWithCpu(test, t, threads, SECONDS);
            const queries = qps * SECONDS;
            const f: Figures = {
              qps,
              p95,
              cpu: cpuPerQuery,
              gcPer10k: t.gcs && queries ? (((await t.gcs()) - gc0) / queries) * 1e4 : null,
            };
            runs.set(t.name, [...(runs.get(t.name) ?? []), f]);
          }
        }
        for (const t of targets) {
          const rs = runs.get(t.name)!;
          const f: Figures = {
            qps: median(rs.map((r) => r.qps)),
            p95: median(rs.map((r) => r.p95)),
            cpu: median(rs.map((r) => r.cpu)),
            gcPer10k: rs[0]!.gcPer10k === null ? null : median(rs.map((r) => r.gcPer10k!)),
          };
          results.set(`${test}/${threads}/${t.name}`, f);
        }
        const h = results.get(`${test}/${threads}/HAProxy`)!;
        for (const t of targets) {
          const f = results.get(`${test}/${threads}/${t.name}`)!;
          const all = runs.get(t.name)!.map((r) => r.cpu.toFixed(1));
          console.log(
            [
              test.padEnd(19),
              String(threads).padStart(7),
              ' ' + t.name.padEnd(24),
              f.qps.toFixed(0).padStart(7),
              f.p95.toFixed(2).padStart(9),
              `${f.cpu.toFixed(1)} (${all.join('/')})`.padStart(13),
              (f.gcPer10k === null ? '-' : f.gcPer10k.toFixed(1)).padStart(10),
              (f.qps / h.qps).toFixed(2).padStart(12),
              (f.cpu / h.cpu).toFixed(2).padStart(12),
            ].join(' '),
          );
        }
      }
    }

    console.log(`\nload average at the end ${loadAverage()}`);
    const at = (test: string, target: string) => results.get(`${test}/16/${target}`);
    if (base) {
      console.log('\nbefore (baseline checkout) → after (this checkout), CPU µs per query at 16 threads:');
      for (const test of TESTS) {
        for (const router of ['readconnroute', 'readwritesplit']) {
          const b = at(test, `${router} (before)`);
          const a = at(test, router);
          if (!a || !b) continue;
          console.log(
            `  ${test.padEnd(18)} ${router.padEnd(15)} ${b.cpu.toFixed(1)} → ${a.cpu.toFixed(1)} µs (${(a.cpu - b.cpu).toFixed(1)}), ` +
              `QPS ${b.qps.toFixed(0)} → ${a.qps.toFixed(0)}`,
          );
        }
      }
    }

    console.log('\nissue 13 targets (16 threads; ratios to HAProxy from the same run):');
    const verdict = (name: string, figure: number | undefined, limit: number, atMost: boolean) => {
      if (figure === undefined) return console.log(`  ${name}: not measured (16 threads not in --threads)`);
      const pass = atMost ? figure <= limit : figure >= limit;
      console.log(`  ${name}: ${figure.toFixed(3)} (${atMost ? '≤' : '≥'} ${limit}) ${pass ? 'PASS' : 'MISS'}`);
    };
    for (const test of TESTS.filter((t) => t === 'oltp_point_select' || t === 'oltp_read_only')) {
      const h = at(test, 'HAProxy');
      const r = at(test, 'readconnroute');
      verdict(`1. readconnroute CPU/query vs HAProxy, ${test}`, h && r ? r.cpu / h.cpu : undefined, 1.2, true);
      verdict(`1. readconnroute QPS vs HAProxy, ${test}`, h && r ? r.qps / h.qps : undefined, 0.9, false);
    }
    {
      const h = at('oltp_point_select', 'HAProxy');
      const w = at('oltp_point_select', 'readwritesplit');
      verdict(
        '2. readwritesplit CPU/query vs HAProxy, oltp_point_select',
        h && w ? w.cpu / h.cpu : undefined,
        1.5,
        true,
      );
    }
  } finally {
    await stopProcesses(children);
    await topo.destroy();
    removeDir(dir);
  }
}

await main();
