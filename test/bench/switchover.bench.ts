/**
 * What applications see of cluster operations through readwritesplit with
 * transaction_replay (issue 12): sysbench oltp_read_write through Weir while a switchover
 * runs back and forth every --interval seconds, then one run where the primary is killed
 * (kill -9) and auto_failover promotes a replica. For each run: sysbench's errors and
 * reconnects (target 0 for switchovers), the longest stall a client saw (sysbench's maximum
 * latency, and the longest stretch of whole seconds without a committed transaction), the
 * replays and reconnections Weir counted, and afterwards the row count and CHECKSUM TABLE of
 * every server compared (replicas caught up first). The load average is printed with them.
 *
 * Weir logs each replay mismatch at debug level (which statement, the first differing
 * packet of both replies); --explain-mismatches looks up, in the primary's binlog, which
 * transactions wrote the row values the client and the replay saw (explain-mismatches.ts).
 * sysbench's default --rand-type=special sends 75% of its row accesses to 1% of the rows,
 * so an interrupted transaction's reads are very likely to have been changed by the others'
 * last commits before the switchover; --rand-type=uniform spreads them over the table.
 *
 *   node --import tsx test/bench/switchover.bench.ts [--seconds 60] [--interval 10] [--threads 8] [--failover-seconds 30]
 *     [--table-size 100000] [--rand-type special|uniform|gaussian|pareto] [--explain-mismatches]
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { createUser, freePort, startReplicationTopology, waitFor, type MariaDBServer } from '../harness/mariadb.ts';
import { CLUSTER_ADMIN, clusterConfig, createClusterAdmin } from '../harness/config.ts';
import { ADMIN, exited, removeDir, spawnWeir, tempDir } from '../harness/weir.ts';
import { explainMismatches } from './explain-mismatches.ts';
import { ensureTools, loadAverage, mariadbVersion, untilLoginWorks, untilReplicasCaughtUp } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    interval: { type: 'string', default: '10' },
    threads: { type: 'string', default: '8' },
    'failover-seconds': { type: 'string', default: '30' },
    'table-size': { type: 'string', default: '100000' },
    'rand-type': { type: 'string', default: 'special' },
    'explain-mismatches': { type: 'boolean', default: false },
  },
});
const SECONDS = Number(args.seconds);
const INTERVAL = Number(args.interval);
const THREADS = Number(args.threads);
const FAILOVER_SECONDS = Number(args['failover-seconds']);
const TABLE_SIZE = Number(args['table-size']);
const RAND_TYPE = args['rand-type'];

const auth = `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}`;

interface RunFigures {
  transactions: number;
  /** Errors sysbench ignored (deadlocks are among them: oltp_read_write has some without any switchover). */
  errors: number;
  reconnects: number;
  /** Largest single-query latency sysbench reported (runs that reached their summary). */
  maxLatencyMs: number;
  /** Longest wall-clock stretch without a second in which a transaction committed (sysbench restarts included), s. */
  longestStallSeconds: number;
  /** sysbench crashed (1.0.20 segfaults in its reconnect path after a session is closed) and was restarted. */
  crashes: number;
}

/** One sysbench oltp_read_write run through `port`, errors counted instead of fatal, one report a second. */
async function sysbenchOnce(port: number, seconds: number): Promise<{ stdout: string; crashed: boolean }> {
  return promisify(execFile)(
    'sysbench',
    [
      'oltp_read_write',
      '--db-driver=mysql',
      '--mysql-host=127.0.0.1',
      `--mysql-port=${port}`,
      '--mysql-user=sbtest',
      '--mysql-password=sbtest-pw',
      '--mysql-db=sbtest',
      '--tables=1',
      `--table-size=${TABLE_SIZE}`,
      `--threads=${THREADS}`,
      `--time=${seconds}`,
      '--report-interval=1',
      `--rand-type=${RAND_TYPE}`,
      '--db-ps-mode=disable',
      '--mysql-ignore-errors=all',
      'run',
    ],
    { encoding: 'utf8', maxBuffer: 1 << 26 },
  ).then(
    (r) => ({ stdout: r.stdout, crashed: false }),
    // What it printed until it crashed still counts.
    (err: { stdout?: string }) => ({ stdout: err.stdout ?? '', crashed: true }),
  );
}

/** sysbench for `seconds` of wall time, restarted whenever it crashes. */
async function sysbenchRun(port: number, seconds: number): Promise<RunFigures> {
  const began = performance.now();
  const deadline = began + seconds * 1000;
  const f: RunFigures = {
    transactions: 0,
    errors: 0,
    reconnects: 0,
    maxLatencyMs: 0,
    longestStallSeconds: 0,
    crashes: 0,
  };
  // The end of each second in which something committed (ms since `began`), restarts included.
  const progress: number[] = [0];
  for (;;) {
    const left = Math.round((deadline - performance.now()) / 1000);
    if (left < 1) break;
    const started = performance.now() - began;
    const { stdout, crashed } = await sysbenchOnce(port, left);
    for (const m of stdout.matchAll(/\[ (\d+)s \] thds: \d+ tps: ([\d.]+) .* err\/s: ([\d.]+) reconn\/s: ([\d.]+)/g)) {
      const tps = Number(m[2]);
      f.transactions += tps;
      f.errors += Number(m[3]);
      f.reconnects += Number(m[4]);
      if (tps > 0) progress.push(started + Number(m[1]) * 1000);
    }
    if (crashed) f.crashes++;
    else f.maxLatencyMs = Math.max(f.maxLatencyMs, Number(/max:\s+([\d.]+)/.exec(stdout)?.[1] ?? 0));
  }
  progress.push(performance.now() - began);
  let stall = 0;
  for (let i = 1; i < progress.length; i++) stall = Math.max(stall, progress[i]! - progress[i - 1]! - 1000);
  f.longestStallSeconds = Math.max(0, Math.round(stall / 100) / 10);
  f.transactions = Math.round(f.transactions);
  return f;
}

async function api(url: string, method: string, path: string, body?: unknown, type = 'application/json') {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { Authorization: auth, 'Content-Type': type },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function primaryName(url: string): Promise<string | null> {
  const servers = (await api(url, 'GET', '/servers')) as Array<{ name: string; state: string[] }>;
  return servers.find((s) => s.state.includes('master') && s.state.includes('running'))?.name ?? null;
}

/** Row count and CHECKSUM TABLE of every server, once the replicas have caught up with `primary`. */
async function compare(primary: MariaDBServer, others: MariaDBServer[]): Promise<string> {
  await untilReplicasCaughtUp(primary, others);
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const s of [primary, ...others]) {
    const [{ n }] = await s.query('SELECT COUNT(*) AS n FROM sbtest.sbtest1');
    const [{ Checksum }] = await s.query('CHECKSUM TABLE sbtest.sbtest1');
    seen.add(`${n}/${Checksum}`);
    lines.push(`  ${s.name}${s === primary ? ' (primary)' : ''}: ${n} rows, CHECKSUM TABLE ${Checksum}`);
  }
  lines.push(`  servers agree: ${seen.size === 1 ? 'yes' : 'NO'}`);
  return lines.join('\n');
}

function report(name: string, f: RunFigures, diag: { replayed_transactions: number; reconnections: number }): void {
  console.log(
    `${name}: ${f.transactions} transactions, sysbench errors ${f.errors}, reconnects ${f.reconnects}, ` +
      `sysbench crashed and restarted ${f.crashes} time(s); longest stall: ${f.longestStallSeconds} s without a commit, ` +
      `max latency ${f.maxLatencyMs} ms (runs that finished); ` +
      `Weir: replayed_transactions ${diag.replayed_transactions}, reconnections ${diag.reconnections}; ` +
      `load average ${loadAverage()}`,
  );
}

async function main(): Promise<void> {
  ensureTools([['sysbench', 'sysbench']]);
  const topo = await startReplicationTopology(2);
  const servers = [topo.primary, ...topo.replicas];
  const byName = new Map(servers.map((s) => [s.name, s]));
  const dir = tempDir('weir-switchover-bench-');
  let weir: Awaited<ReturnType<typeof spawnWeir>> | null = null;
  try {
    await createClusterAdmin(topo);
    // Not SUPER: a demoted primary refuses its writes, as it would an application's.
    await createUser(topo.primary, 'sbtest', 'sbtest-pw', 'ALL PRIVILEGES ON sbtest.*');
    await topo.primary.query('CREATE DATABASE sbtest');
    const port = await freePort();
    const config =
      clusterConfig(topo, {
        intervalMs: 500,
        failcount: 3,
        readTimeout: '2s',
        extra: 'switchover_timeout=30s\nfailover_timeout=30s\n',
      }).replace('[maxscale]\n', '[maxscale]\nlog_info=true\nlog_debug=true\n') +
      `[RWS]\ntype=service\nrouter=readwritesplit\nservers=${servers.map((s) => s.name).join(',')}\n` +
      `user=${CLUSTER_ADMIN.user}\npassword=${CLUSTER_ADMIN.password}\ntransaction_replay=true\n\n` +
      `[RWS-Listener]\ntype=listener\nservice=RWS\naddress=127.0.0.1\nport=${port}\n`;
    writeFileSync(join(dir, 'weir.cnf'), config);
    weir = await spawnWeir(['--config', join(dir, 'weir.cnf'), '--datadir', dir, '--admin-port', '0']);
    const url = weir.url;
    await promisify(execFile)('sysbench', [
      'oltp_read_write',
      '--db-driver=mysql',
      '--mysql-host=127.0.0.1',
      `--mysql-port=${topo.primary.port}`,
      '--mysql-user=sbtest',
      '--mysql-password=sbtest-pw',
      '--mysql-db=sbtest',
      '--tables=1',
      `--table-size=${TABLE_SIZE}`,
      'prepare',
    ]);
    await untilLoginWorks(port);
    await waitFor('the monitor to see the primary', async () => (await primaryName(url)) === 'db1');
    const diag = async () => (await api(url, 'GET', '/services/RWS')).router_diagnostics;

    console.log(
      `\nsysbench oltp_read_write, ${THREADS} threads, through Weir readwritesplit (transaction_replay=true), ` +
        `a GTID primary and 2 replicas (MariaDB ${await mariadbVersion(topo.primary)}), one 2-core machine\n`,
    );

    // 1. Switchover back and forth every INTERVAL seconds.
    const run = sysbenchRun(port, SECONDS);
    const switchovers: string[] = [];
    let stop = false;
    const switcher = (async () => {
      let target = 'db2';
      for (let at = INTERVAL; at < SECONDS - 2 && !stop; at += INTERVAL) {
        await sleep(INTERVAL * 1000);
        if (stop) break;
        const started = performance.now();
        try {
          await api(url, 'POST', '/monitors/Cluster/switchover', { new_primary: target });
          await waitFor(`${target} to be seen as the primary`, async () => (await primaryName(url)) === target);
          switchovers.push(`${target} in ${Math.round(performance.now() - started)} ms`);
        } catch (err) {
          switchovers.push(`${target} FAILED: ${(err as Error).message}`);
        }
        target = target === 'db2' ? 'db1' : 'db2';
      }
    })();
    const figures = await run;
    stop = true;
    await switcher;
    report(`switchover every ${INTERVAL} s for ${SECONDS} s`, figures, await diag());
    console.log(`  switchovers: ${switchovers.join(', ')}`);
    const primary = byName.get((await primaryName(url))!)!;
    console.log(
      await compare(
        primary,
        servers.filter((s) => s !== primary),
      ),
    );

    if (args['explain-mismatches']) {
      console.log('  replay mismatches, the rows that differed and who wrote them (binlog of the primary):');
      console.log(await explainMismatches(weir.output(), primary));
    }

    // 2. kill -9 of the primary, auto_failover.
    await api(
      url,
      'PATCH',
      '/monitors/Cluster',
      [{ op: 'replace', path: '/parameters/auto_failover', value: true }],
      'application/json-patch+json',
    );
    const before = await diag();
    const victim = primary;
    const failoverRun = sysbenchRun(port, FAILOVER_SECONDS);
    await sleep(Math.min(10, FAILOVER_SECONDS / 3) * 1000);
    const killedAt = performance.now();
    await victim.kill();
    await waitFor(
      'a new primary',
      async () => {
        const p = await primaryName(url);
        return p !== null && p !== victim.name;
      },
      60_000,
    );
    const promotedAfter = Math.round(performance.now() - killedAt);
    const f2 = await failoverRun;
    const after = await diag();
    report(`kill -9 of the primary ${victim.name} (auto_failover) during ${FAILOVER_SECONDS} s`, f2, {
      replayed_transactions: after.replayed_transactions - before.replayed_transactions,
      reconnections: after.reconnections - before.reconnections,
    });
    const next = byName.get((await primaryName(url))!)!;
    console.log(`  new primary ${next.name}, seen by Weir ${promotedAfter} ms after the kill`);
    console.log(
      await compare(
        next,
        servers.filter((s) => s !== next && s !== victim),
      ),
    );
    // Why sessions were closed, and how replays ended, from Weir's log (both runs).
    const outcomes = new Map<string, number>();
    for (const line of weir.output().split('\n')) {
      const m =
        /"msg":"session \d+: (transaction replay succeeded|transaction replay \d+ failed: [^"]*|transaction replay not possible: [^"]*)"/.exec(
          line,
        ) ?? /"msg":"session \d+ closed: ([^"]*)"/.exec(line);
      if (!m) continue;
      const key = m[1]!.replace(/\d+/g, 'N').replace(/'db\d'/g, "'dbN'");
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    }
    console.log("  Weir's log, both runs (replays and session closures):");
    for (const [k, n] of [...outcomes].sort((a, b) => b[1] - a[1])) console.log(`    ${String(n).padStart(5)}  ${k}`);
  } finally {
    if (weir) {
      weir.child.kill('SIGTERM');
      await exited(weir.child);
    }
    await topo.destroy();
    removeDir(dir);
  }
}

await main();
