/**
 * What the command API's query feed costs and how fast it delivers, in one run on one
 * throw-away MariaDB:
 *   1. pull_results latency: a client sends a statement through Weir while a consumer
 *      long-polls a `watch queries` job; the time from sending to the consumer's pull
 *      returning with it (median, p99 over --statements, one at a time);
 *   2. sysbench oltp_point_select (--threads) through Weir with no watcher, with an active
 *      `watch queries` job whose consumer pulls continuously, and, for the cost of the feed
 *      while nobody watches, through a checkout of the commit before the feed (--before);
 *      each target twice (forward and reverse order), averaged.
 *
 *   node --import tsx test/bench/console.bench.ts [--seconds 10] [--threads 16] [--statements 200] [--before acfae65]
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mysql from 'mysql2/promise';
import { freePort, startMariaDB } from '../harness/mariadb.ts';
import { monitorSection, serverSection, serviceSections } from '../harness/config.ts';
import { ADMIN, exited, removeDir, spawnWeir, tempDir } from '../harness/weir.ts';
import {
  checkoutCommit,
  cpuSeconds,
  ensureTools,
  prepareBenchDatabase,
  removeCheckout,
  sysbench,
  sysbenchInBackground,
  untilLoginWorks,
} from './lib.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    threads: { type: 'string', default: '16' },
    statements: { type: 'string', default: '200' },
    before: { type: 'string', default: 'acfae65' },
  },
});
const SECONDS = Number(args.seconds);
const THREADS = Number(args.threads);
const AUTH = `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}`;

const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;

ensureTools([['sysbench', 'sysbench']]);
const db = await startMariaDB({ extraArgs: ['--max-connections=2000', '--innodb-buffer-pool-size=256M'] });
const dir = tempDir('weir-console-bench-');
const before = join(dir, 'before');
const children: ChildProcess[] = [];
try {
  await prepareBenchDatabase(db);
  checkoutCommit(args.before!, before);
  const ports = { now: await freePort(), then: await freePort() };
  const config = (port: number) =>
    `[maxscale]\nlog_warning=false\n\n${serverSection('db1', db.port)}${monitorSection('Monitor', ['db1'], 1000)}` +
    serviceSections('Svc', port, { servers: ['db1'] });
  writeFileSync(join(dir, 'now.cnf'), config(ports.now));
  writeFileSync(join(dir, 'then.cnf'), config(ports.then));
  const weir = await spawnWeir(['--config', join(dir, 'now.cnf'), '--datadir', join(dir, 'now'), '--admin-port', '0']);
  const old = await spawnWeir(
    ['--config', join(dir, 'then.cnf'), '--datadir', join(dir, 'then'), '--admin-port', '0'],
    {},
    before,
  );
  children.push(weir.child, old.child);
  await untilLoginWorks(ports.now);
  await untilLoginWorks(ports.then);
  sysbench('oltp_point_select', db.port, 1, 'prepare', SECONDS);

  type ApiReply = {
    sessionId: string;
    consumerId: string;
    state: string;
    body: { results: Array<{ type: string; sql?: string }> };
  };
  const api = async (body: object): Promise<ApiReply> => {
    for (let attempt = 0; ; attempt++) {
      try {
        return (await (
          await fetch(`${weir.url}/api`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', Authorization: AUTH },
            body: JSON.stringify(body),
          })
        ).json()) as ApiReply;
      } catch (err) {
        // A kept-alive connection the server closed as the request went out: try once more; a dead Weir is fatal.
        if (weir.child.exitCode !== null || weir.child.signalCode !== null)
          throw new Error(`Weir exited:\n${weir.output()}`, { cause: err });
        if (attempt > 0) throw err;
      }
    }
  };

  // 1. Latency from a statement reaching Weir to a consumer's pull returning with it.
  const { sessionId, consumerId } = await api({ action: 'init_session' });
  await api({ action: 'pull_results', sessionId, consumerId });
  await api({ action: 'async_exec', sessionId, command: 'watch queries --match "^SELECT .bench" -n 1000000' });
  const client = await mysql.createConnection({
    host: '127.0.0.1',
    port: ports.now,
    user: 'sbtest',
    password: 'sbtest-pw',
  });
  const latencies: number[] = [];
  for (let i = 0; i < Number(args.statements); i++) {
    const sql = `SELECT 'bench ${i}'`;
    let pull = api({ action: 'pull_results', sessionId, consumerId });
    const sent = performance.now();
    await client.query(sql);
    for (;;) {
      const r = await pull;
      if (r.body.results.some((x) => x.type === 'query' && x.sql === sql)) break;
      pull = api({ action: 'pull_results', sessionId, consumerId });
    }
    latencies.push(performance.now() - sent);
  }
  await client.end();
  await api({ action: 'interrupt_job', sessionId });
  console.log(
    `\npull_results latency, statement sent -> consumer has it (${latencies.length} statements, one at a time):` +
      ` median ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms` +
      ' (pull_results waits 100 ms after the first result to batch what follows, as Arthas does)',
  );

  // 2. Throughput with and without an active watcher, and against the commit before the feed.
  const watcher = { stop: false, running: null as Promise<void> | null, received: 0 };
  const targets: Array<{ name: string; port: number; pid: number; watch: boolean }> = [
    { name: `no watcher, before the feed (${args.before})`, port: ports.then, pid: old.child.pid!, watch: false },
    { name: 'no watcher', port: ports.now, pid: weir.child.pid!, watch: false },
    { name: 'watch queries active, consumer pulling', port: ports.now, pid: weir.child.pid!, watch: true },
  ];
  const sums = new Map<string, { qps: number; cpu: number }>();
  for (const order of [targets, [...targets].reverse()]) {
    for (const t of order) {
      if (t.watch) {
        await api({ action: 'async_exec', sessionId, command: 'watch queries -n 100000000' });
        watcher.stop = false;
        watcher.running = (async () => {
          while (!watcher.stop) {
            const r = await api({ action: 'pull_results', sessionId, consumerId });
            watcher.received += r.body.results.filter((x) => x.type === 'query').length;
          }
        })();
      }
      const cpu0 = cpuSeconds(t.pid);
      const r = await sysbenchInBackground('oltp_point_select', t.port, THREADS, SECONDS);
      const cpu = cpuSeconds(t.pid) - cpu0;
      if (t.watch) {
        watcher.stop = true;
        await watcher.running;
        await api({ action: 'interrupt_job', sessionId });
      }
      const s = sums.get(t.name) ?? { qps: 0, cpu: 0 };
      s.qps += r.qps / 2;
      s.cpu += ((cpu / (r.qps * SECONDS)) * 1e6) / 2;
      sums.set(t.name, s);
    }
  }
  const base = sums.get('no watcher')!;
  console.log(
    `\nthe watching consumer received ${watcher.received} query results over its two runs (a consumer's queue keeps the newest 50)`,
  );
  console.log(`\nsysbench oltp_point_select, ${THREADS} threads, ${SECONDS} s per run, each target twice\n`);
  console.log(
    'target                                        QPS   CPU µs/query   QPS vs no watcher   CPU vs no watcher',
  );
  for (const t of targets) {
    const s = sums.get(t.name)!;
    console.log(
      [
        t.name.padEnd(42),
        s.qps.toFixed(0).padStart(6),
        s.cpu.toFixed(1).padStart(14),
        (s.qps / base.qps).toFixed(2).padStart(19),
        (s.cpu / base.cpu).toFixed(2).padStart(19),
      ].join('  '),
    );
  }
} finally {
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(children.map((c) => exited(c)));
  await db.destroy();
  removeCheckout(before);
  removeDir(dir);
}
