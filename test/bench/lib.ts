/**
 * What the benchmarks share: installing their tools, the sbtest database and table, sysbench
 * runs (with the CPU a proxy spent on them, read from /proc), and summarising figures.
 * Starting the proxies they compare is proxies.ts.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, readFileSync, symlinkSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import { createProxyUser } from '../harness/config.ts';
import { createUser, waitFor, type MariaDBServer } from '../harness/mariadb.ts';

/** Installs Debian packages for missing binaries (`[binary, package]` pairs). */
export function ensureTools(tools: Array<[string, string]>): void {
  const missing = tools.filter(([bin]) => !['/usr/bin/', '/usr/sbin/'].some((d) => existsSync(d + bin)));
  if (missing.length === 0) return;
  const pkgs = missing.map(([, p]) => p);
  console.error(`installing ${pkgs.join(' ')} from Debian`);
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore' });
  execFileSync('apt-get', ['install', '-y', '-qq', ...pkgs], {
    stdio: 'ignore',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

/** user+system CPU seconds of a process so far. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100; // USER_HZ
}

export function rss(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

function sysbenchArgs(
  test: string,
  port: number,
  threads: number,
  command: 'prepare' | 'run',
  seconds: number,
): string[] {
  return [
    test,
    '--db-driver=mysql',
    '--mysql-host=127.0.0.1',
    `--mysql-port=${port}`,
    '--mysql-user=sbtest',
    '--mysql-password=sbtest-pw',
    '--mysql-db=sbtest',
    '--tables=1',
    '--table-size=10000',
    `--threads=${threads}`,
    `--time=${seconds}`,
    '--report-interval=0',
    '--db-ps-mode=disable',
    command,
  ];
}

function sysbenchFigures(out: string): { qps: number; p95: number } {
  const qps = Number(/queries:\s+\d+\s+\(([\d.]+) per sec\.\)/.exec(out)![1]);
  const p95 = Number(/95th percentile:\s+([\d.]+)/.exec(out)![1]);
  return { qps, p95 };
}

/** One sysbench command against the `sbtest` database as the `sbtest` user. */
export function sysbench(
  test: string,
  port: number,
  threads: number,
  command: 'prepare' | 'run',
  seconds: number,
): { qps: number; p95: number } {
  const out = execFileSync('sysbench', sysbenchArgs(test, port, threads, command, seconds), {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  return command === 'prepare' ? { qps: 0, p95: 0 } : sysbenchFigures(out);
}

/** The same, leaving this process's event loop free (for benchmarks that also drive Weir's APIs meanwhile). */
export async function sysbenchInBackground(
  test: string,
  port: number,
  threads: number,
  seconds: number,
): Promise<{ qps: number; p95: number }> {
  const { stdout } = await promisify(execFile)('sysbench', sysbenchArgs(test, port, threads, 'run', seconds), {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  return sysbenchFigures(stdout);
}

/** One sysbench run against a target, and the CPU its process (a proxy; none for MariaDB directly) spent per query. */
export function sysbenchWithCpu(
  test: string,
  target: { port: number; pid: number | null },
  threads: number,
  seconds: number,
): { qps: number; p95: number; cpuPerQuery: number } {
  const cpu0 = target.pid ? cpuSeconds(target.pid) : 0;
  const res = sysbench(test, target.port, threads, 'run', seconds);
  const used = target.pid ? cpuSeconds(target.pid) - cpu0 : 0;
  const queries = res.qps * seconds;
  return { ...res, cpuPerQuery: queries ? (used / queries) * 1e6 : 0 };
}

/**
 * sysbench's table (1 table of 10,000 rows) on the primary, then waits for every replica to
 * have it, so that a router reading from them measures the same data.
 */
export async function prepareSysbenchTable(primary: MariaDBServer, replicas: MariaDBServer[] = []): Promise<void> {
  sysbench('oltp_point_select', primary.port, 1, 'prepare', 0); // --time means nothing to prepare
  await untilReplicasCaughtUp(primary, replicas);
}

/** Waits until each replica has applied every transaction the primary has binlogged so far (GTID positions). */
export async function untilReplicasCaughtUp(primary: MariaDBServer, replicas: MariaDBServer[]): Promise<void> {
  const [{ pos }] = await primary.query('SELECT @@gtid_binlog_pos AS pos');
  for (const r of replicas)
    await waitFor(`${r.name} to catch up`, async () => (await r.query('SELECT @@gtid_slave_pos AS p'))[0].p === pos);
}

/** Waits until a proxy lets `sbtest` log in (Weir routes once its monitor has seen the server). */
export async function untilLoginWorks(port: number): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await (await mysql.createConnection({ host: '127.0.0.1', port, user: 'sbtest', password: 'sbtest-pw' })).end();
      return;
    } catch (err) {
      if (i > 400) throw err;
      await sleep(50);
    }
  }
}

/** sysbench's account and database, and Weir's own account, on a benchmark's MariaDB. */
export async function prepareBenchDatabase(db: MariaDBServer): Promise<void> {
  await createUser(db, 'sbtest', 'sbtest-pw');
  await createProxyUser(db);
  await db.query('CREATE DATABASE sbtest');
}

export async function mariadbVersion(db: MariaDBServer): Promise<string> {
  return (await db.query('SELECT VERSION() AS v'))[0].v;
}

/** The machine's 1, 5 and 15 minute load averages: the machine is shared, so benchmarks print how busy it was. */
export function loadAverage(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/** The middle figure (the mean of the middle two for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A checkout of an earlier commit at `dir`, sharing this one's node_modules, to run beside it. */
export function checkoutCommit(rev: string, dir: string): string {
  execFileSync('git', ['-C', ROOT, 'worktree', 'add', '--detach', dir, rev], { stdio: 'ignore' });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

export function removeCheckout(dir: string): void {
  try {
    execFileSync('git', ['-C', ROOT, 'worktree', 'remove', '--force', dir], { stdio: 'ignore' });
  } catch {
    // never created
  }
}
