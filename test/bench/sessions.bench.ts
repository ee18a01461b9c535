/**
 * Idle sessions and GET /sessions (issue 13, targets 3 and 4), this checkout and another
 * (by default main's, /work/main) side by side in one run against one throw-away MariaDB:
 *   1. resident memory per idle session at each count of --sessions (default 1,000 and
 *      9,000), both whole (growth since no session, divided by all sessions) and marginal
 *      (growth since the previous count, divided by the sessions added);
 *   2. Weir's idle CPU with those sessions held open (no traffic, nobody polling);
 *   3. GET /sessions latency (autocannon, p50/p99) with 1 and 4 concurrent clients at the
 *      largest count, and with `fields=id,state` (what a list that needs little asks for).
 * Each target is printed with its figure and PASS/MISS, for both checkouts, so a later change
 * that loses ground shows.
 *
 *   node --import tsx test/bench/sessions.bench.ts [--sessions 1000,9000] [--seconds 5]
 *        [--idle-seconds 10] [--other /work/main] [--only this]
 *
 * Each session takes two descriptors in Weir (client and backend) and one in this process, so
 * 9,000 need a descriptor limit above 18,000 for Weir (the hard limit is raised to when lower
 * than needed, and the soft one follows it in the children). Not part of `npm test`.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { freePort, startMariaDB, type MariaDBServer } from '../harness/mariadb.ts';
import { ADMIN, exited, removeDir, spawnWeir, tempDir } from '../harness/weir.ts';
import { cpuSeconds, prepareBenchDatabase, rss, untilLoginWorks } from './lib.ts';
import { idleSession } from './idle-session.ts';
import { benchWeirConfig } from './proxies.ts';

const { values: args } = parseArgs({
  options: {
    sessions: { type: 'string', default: '1000,9000' },
    seconds: { type: 'string', default: '5' },
    'idle-seconds': { type: 'string', default: '10' },
    other: { type: 'string', default: '/work/main' },
    only: { type: 'string' },
  },
});
const COUNTS = args.sessions!.split(',').map(Number);
const SECONDS = Number(args.seconds);
const IDLE_SECONDS = Number(args['idle-seconds']);
const THIS = fileURLToPath(new URL('../..', import.meta.url));
const CHECKOUTS: Array<[string, string]> =
  args.only === 'this'
    ? [['this', THIS]]
    : [
        ['other', args.other!],
        ['this', THIS],
      ];
const AUTH = `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}`;
const TARGET_KIB = 10;
const TARGET_P99_MS = 50;

/** The lowest RSS over a few samples: a collection in flight should not count as held memory. */
async function settledRss(pid: number): Promise<number> {
  let low = Infinity;
  for (let i = 0; i < 6; i++) {
    await sleep(500);
    low = Math.min(low, rss(pid));
  }
  return low;
}

/** Latency, and Weir's CPU time per request (robust to a loaded machine, unlike latency). */
async function latency(
  url: string,
  connections: number,
  pid: number,
): Promise<{ p50: number; p99: number; requests: number; cpuMs: number }> {
  const cpu0 = cpuSeconds(pid);
  const r = await autocannon({ url, connections, duration: SECONDS, headers: { authorization: AUTH } });
  const cpu = cpuSeconds(pid) - cpu0;
  if (r.non2xx || r.errors) throw new Error(`GET ${url}: ${r.non2xx} non-2xx answers, ${r.errors} errors`);
  const requests = r.requests.total;
  return { p50: r.latency.p50, p99: r.latency.p99, requests, cpuMs: (cpu * 1000) / requests };
}

/** Weir's V8 heap in use (from its own /metrics), to tell the JavaScript heap from native memory. */
async function heapUsed(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: AUTH } })).text();
  return Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(text)![1]);
}

interface Figures {
  base: number;
  baseHeap: number;
  rss: Map<number, number>;
  heap: Map<number, number>;
  idleCpu: Map<number, number>;
  get: Record<string, { p50: number; p99: number; requests: number; cpuMs: number }>;
}

async function untilBackendsClosed(db: MariaDBServer): Promise<void> {
  for (;;) {
    const [row] = await db.query("SHOW GLOBAL STATUS LIKE 'Threads_connected'");
    if (Number(row.Value) < 50) return;
    await sleep(200);
  }
}

async function measure(root: string, db: MariaDBServer, dir: string): Promise<Figures> {
  const port = await freePort();
  writeFileSync(
    join(dir, 'weir.cnf'),
    benchWeirConfig([db], [{ name: 'Svc', port, router: 'readconnroute' }], { logInfo: false }),
  );
  const datadir = tempDir('weir-sessions-bench-');
  const weir = await spawnWeir(
    ['--config', join(dir, 'weir.cnf'), '--datadir', datadir, '--admin-port', '0'],
    {},
    root,
    // e.g. WEIR_BENCH_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile the Weir under test.
    process.env.WEIR_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [],
  );
  const child: ChildProcess = weir.child;
  const pid = child.pid!;
  const held: Socket[] = [];
  let retries = 0;
  let lost = 0;
  let lostWhy = '';
  const step = (what: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${root}: ${what}`);
  try {
    step('waiting for logins');
    await untilLoginWorks(port);
    // A warm-up round (sessions opened, listed, closed): what the first session ever costs (code
    // compiled, heap spaces grown once) is not a per-session cost.
    const warm = await Promise.all(Array.from({ length: 200 }, () => idleSession(port)));
    await fetch(`${weir.url}/sessions`, { headers: { authorization: AUTH } });
    for (const s of warm) s.destroy();
    while (((await (await fetch(`${weir.url}/sessions`, { headers: { authorization: AUTH } })).json()) as []).length)
      await sleep(100);
    const figures: Figures = {
      base: await settledRss(pid),
      baseHeap: await heapUsed(weir.url),
      rss: new Map(),
      heap: new Map(),
      idleCpu: new Map(),
      get: {},
    };
    for (const count of COUNTS) {
      while (held.length < count) {
        // On a loaded machine a login may miss Weir's 10 s handshake timeout: that one is retried.
        const batch = await Promise.allSettled(
          Array.from({ length: Math.min(100, count - held.length) }, () => idleSession(port)),
        );
        for (const r of batch) {
          if (r.status !== 'fulfilled') continue;
          held.push(r.value);
          // A session Weir closes says why in an error packet first: kept for the report.
          r.value.on('data', (d: Buffer) => (lostWhy = d.subarray(7).toString()));
          r.value.on('close', () => lost++);
        }
        retries += batch.filter((r) => r.status === 'rejected').length;
      }
      step(`${count} sessions open (${retries} logins retried, ${lost} closed by Weir${lost ? `: ${lostWhy}` : ''})`);
      figures.rss.set(count, await settledRss(pid));
      figures.heap.set(count, await heapUsed(weir.url));
      const cpu0 = cpuSeconds(pid);
      const t0 = performance.now();
      await sleep(IDLE_SECONDS * 1000);
      figures.idleCpu.set(count, (cpuSeconds(pid) - cpu0) / ((performance.now() - t0) / 1000));
    }
    const url = `${weir.url}/sessions`;
    // Every session is listed (the handler is not answering from an empty registry).
    const listed = (await (await fetch(url, { headers: { authorization: AUTH } })).json()) as unknown[];
    if (listed.length !== held.length - lost)
      throw new Error(`GET /sessions listed ${listed.length} of ${held.length - lost}`);
    if (lost) step(`${lost} sessions were closed by Weir (${lostWhy}); figures are for ${held.length - lost}`);
    step('GET /sessions');
    for (const connections of [1, 4]) figures.get[`${connections}`] = await latency(url, connections, pid);
    figures.get['4 fields'] = await latency(`${url}?fields=id,state`, 4, pid);
    return figures;
  } finally {
    for (const s of held) {
      s.removeAllListeners('close');
      s.destroy();
    }
    child.kill('SIGTERM');
    await exited(child);
    removeDir(datadir);
    await untilBackendsClosed(db);
  }
}

const kib = (bytes: number) => bytes / 1024;
const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');

async function main(): Promise<void> {
  const max = Math.max(...COUNTS);
  const limit = Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }));
  if (limit < 2 * max + 500)
    throw new Error(
      `a descriptor limit of ${limit} is too low for ${max} sessions; run under 'ulimit -n ${2 * max + 1000}'`,
    );
  const db = await startMariaDB({
    extraArgs: [
      `--max-connections=${max + 500}`,
      '--thread-handling=pool-of-threads',
      '--innodb-buffer-pool-size=64M',
      `--open-files-limit=${max + 1000}`,
    ],
  });
  const dir = tempDir('weir-sessions-bench-cfg-');
  try {
    await prepareBenchDatabase(db);
    const results: Array<[string, Figures]> = [];
    for (const [name, root] of CHECKOUTS) results.push([name, await measure(root, db, dir)]);

    const load = execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).split(' ').slice(0, 3).join(' ');
    console.log(
      `\nidle sessions through readconnroute; load average ${load}; ${CHECKOUTS.map(([n, r]) => `${n} = ${r}`).join(', ')}\n`,
    );
    const row = (label: string, f: (x: Figures) => string) =>
      console.log(label.padEnd(52) + results.map(([, x]) => f(x).padStart(16)).join(''));
    row('', () => '');
    console.log(''.padEnd(52) + results.map(([n]) => n.padStart(16)).join(''));
    row('RSS with no session, MiB', (x) => (x.base / 1048576).toFixed(1));
    let prev = 0;
    for (const count of COUNTS) {
      const p = prev;
      row(`RSS at ${count} sessions, MiB`, (x) => (x.rss.get(count)! / 1048576).toFixed(1));
      row(`  KiB per session, whole (since none)`, (x) => kib((x.rss.get(count)! - x.base) / count).toFixed(1));
      if (p)
        row(`  KiB per session, marginal (${p} -> ${count})`, (x) =>
          kib((x.rss.get(count)! - x.rss.get(p)!) / (count - p)).toFixed(1),
        );
      row(`  of it V8 heap in use, KiB per session (since none)`, (x) =>
        kib((x.heap.get(count)! - x.baseHeap) / count).toFixed(1),
      );
      row(`  idle CPU, % of a core`, (x) => (x.idleCpu.get(count)! * 100).toFixed(2));
      prev = count;
    }
    for (const [key, label] of [
      ['1', '1 client'],
      ['4', '4 clients'],
      ['4 fields', '4 clients, ?fields=id,state'],
    ] as const) {
      row(`GET /sessions at ${max}, ${label}: p50/p99 ms`, (x) => `${x.get[key]!.p50}/${x.get[key]!.p99}`);
      row(`  Weir CPU ms per request`, (x) => x.get[key]!.cpuMs.toFixed(1));
    }

    console.log('\ntargets (issue 13)');
    for (const [name, x] of results) {
      const whole = kib((x.rss.get(max)! - x.base) / max);
      const p99 = x.get['4']!.p99;
      console.log(
        `  ${name.padEnd(6)} 3. idle session memory at ${max}: ${whole.toFixed(1)} KiB whole (<= ${TARGET_KIB})  ${verdict(whole <= TARGET_KIB)}`,
      );
      console.log(
        `  ${name.padEnd(6)} 4. GET /sessions at ${max}, 4 clients: p99 ${p99} ms (< ${TARGET_P99_MS})  ${verdict(p99 < TARGET_P99_MS)}` +
          ` (4 requests queued on one event loop need ${(4 * x.get['4']!.cpuMs).toFixed(0)} ms of Weir's CPU)`,
      );
    }
  } finally {
    await db.destroy();
    removeDir(dir);
  }
}

await main();
