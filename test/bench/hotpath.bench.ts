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
import { spawn, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, startReplicationTopology, waitFor } from '../harness/mariadb.ts';
import { createProxyUser, monitorSection, PROXY_USER, serverSection } from '../harness/config.ts';
import { createUser } from '../harness/mariadb.ts';
import { exited, removeDir, spawnWeir, tempDir } from '../harness/weir.ts';
import { cpuSeconds, ensureTools, sysbench, untilLoginWorks } from './lib.ts';

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

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

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

function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

async function main(): Promise<void> {
  ensureTools([
    ['sysbench', 'sysbench'],
    ['haproxy', 'haproxy'],
  ]);
  const topo = await startReplicationTopology(1);
  const dir = tempDir('weir-hotpath-');
  const children: ChildProcess[] = [];
  try {
    await createUser(topo.primary, 'sbtest', 'sbtest-pw');
    await createProxyUser(topo.primary);
    await topo.primary.query('CREATE DATABASE sbtest');
    const servers = [topo.primary, ...topo.replicas];
    const config = (rcrPort: number, rwsPort: number) =>
      `[maxscale]\nlog_warning=false\n\n` +
      servers.map((s, i) => serverSection(`db${i + 1}`, s.port)).join('') +
      monitorSection(
        'Monitor',
        servers.map((_, i) => `db${i + 1}`),
        1000,
      ) +
      `[RCR]\ntype=service\nrouter=readconnroute\nrouter_options=master\nservers=db1,db2\nuser=${PROXY_USER.user}\npassword=${PROXY_USER.password}\n\n` +
      `[RCR-Listener]\ntype=listener\nservice=RCR\naddress=127.0.0.1\nport=${rcrPort}\n\n` +
      `[RWS]\ntype=service\nrouter=readwritesplit\nservers=db1,db2\nuser=${PROXY_USER.user}\npassword=${PROXY_USER.password}\n\n` +
      `[RWS-Listener]\ntype=listener\nservice=RWS\naddress=127.0.0.1\nport=${rwsPort}\n`;

    const startWeir = async (label: string, root: string | undefined, nodeArgs: string[]) => {
      const wdir = tempDir(`weir-hotpath-${label}-`);
      const ports = { rcr: await freePort(), rws: await freePort() };
      writeFileSync(join(wdir, 'weir.cnf'), config(ports.rcr, ports.rws));
      const w = await spawnWeir(
        ['--config', join(wdir, 'weir.cnf'), '--datadir', wdir, '--admin-port', '0'],
        {},
        root,
        ['--import', GC_COUNT, ...nodeArgs],
      );
      children.push(w.child);
      return { ...w, ports };
    };
    const weir = await startWeir(
      'new',
      undefined,
      args.profile ? ['--cpu-prof', `--cpu-prof-dir=${args.profile}`] : [],
    );
    const base = args.baseline ? await startWeir('base', args.baseline, []) : null;

    const haproxyPort = await freePort();
    writeFileSync(
      join(dir, 'haproxy.cfg'),
      `global\n  nbthread 1\n  maxconn 9000\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 1h\n  timeout server 1h\n` +
        `listen mariadb\n  bind 127.0.0.1:${haproxyPort}\n  server db1 127.0.0.1:${topo.primary.port}\n`,
    );
    const haproxy = spawn('haproxy', ['-f', join(dir, 'haproxy.cfg'), '-db'], { stdio: 'ignore' });
    children.push(haproxy);

    process.stderr.write('preparing the sbtest table\n');
    sysbench('oltp_point_select', topo.primary.port, 1, 'prepare', SECONDS);
    const [{ pos }] = await topo.primary.query('SELECT @@gtid_binlog_pos AS pos');
    for (const r of topo.replicas)
      await waitFor(`${r.name} to catch up`, async () => (await r.query('SELECT @@gtid_slave_pos AS p'))[0].p === pos);
    for (const w of [weir, base]) {
      if (!w) continue;
      await untilLoginWorks(w.ports.rcr);
      await untilLoginWorks(w.ports.rws);
    }

    const targets: Target[] = [
      { name: 'HAProxy', port: haproxyPort, pid: haproxy.pid!, gcs: null },
      {
        name: 'readconnroute',
        port: weir.ports.rcr,
        pid: weir.child.pid!,
        gcs: gcCounter(weir.child.pid!, weir.output),
      },
      {
        name: 'readwritesplit',
        port: weir.ports.rws,
        pid: weir.child.pid!,
        gcs: gcCounter(weir.child.pid!, weir.output),
      },
    ];
    if (base) {
      targets.push(
        {
          name: 'readconnroute (before)',
          port: base.ports.rcr,
          pid: base.child.pid!,
          gcs: gcCounter(base.child.pid!, base.output),
        },
        {
          name: 'readwritesplit (before)',
          port: base.ports.rws,
          pid: base.child.pid!,
          gcs: gcCounter(base.child.pid!, base.output),
        },
      );
    }

    const loadStart = load();
    console.log(
      `\nsysbench (text protocol), ${SECONDS} s per run, ${ROUNDS} interleaved rounds (medians), a GTID primary and 1 replica ` +
        `(MariaDB ${(await topo.primary.query('SELECT VERSION() AS v'))[0].v}), one 2-core machine for client, proxies and servers; ` +
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
            const cpu0 = t.pid ? cpuSeconds(t.pid) : 0;
            const gc0 = (await t.gcs?.()) ?? 0;
            const res = sysbench(test, t.port, threads, 'run', SECONDS);
            const used = t.pid ? cpuSeconds(t.pid) - cpu0 : 0;
            const queries = res.qps * SECONDS;
            const f: Figures = {
              ...res,
              cpu: queries ? (used / queries) * 1e6 : 0,
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

    console.log(`\nload average at the end ${load()}`);
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
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => exited(c)));
    await topo.destroy();
    removeDir(dir);
  }
}

await main();
