/**
 * Starting and stopping the proxies the benchmarks compare: Weir (this checkout, or an
 * earlier one as a baseline) with readconnroute/readwritesplit services over a benchmark's
 * servers, and HAProxy in mode tcp with one thread, the yardstick the CPU targets are
 * measured against.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, type MariaDBServer } from '../harness/mariadb.ts';
import { monitorSection, serverSection, serviceSections } from '../harness/config.ts';
import { exited, spawnWeir } from '../harness/weir.ts';

/** A service and its listener, routing over every server of the benchmark. */
export interface BenchService {
  name: string;
  port: number;
  router: 'readconnroute' | 'readwritesplit';
  /** readconnroute's router_options (`running` unless given). */
  routerOptions?: string;
}

/**
 * Weir's configuration for a benchmark: the servers as db1..dbN watched by a mariadbmon
 * `Monitor` (1 s interval), and `services`. Warnings are not logged: a benchmark reads
 * Weir's output only for what it asks for (`logInfo: false`: nor info, for thousands of
 * sessions logging in).
 */
export function benchWeirConfig(
  servers: MariaDBServer[],
  services: BenchService[],
  o: { logInfo?: boolean } = {},
): string {
  const names = servers.map((_, i) => `db${i + 1}`);
  return (
    `[maxscale]\nlog_warning=false\n${o.logInfo === false ? 'log_info=false\n' : ''}\n` +
    servers.map((s, i) => serverSection(names[i]!, s.port)).join('') +
    monitorSection('Monitor', names, 1000) +
    services
      .map((s) => serviceSections(s.name, s.port, { servers: names, router: s.router, routerOptions: s.routerOptions }))
      .join('')
  );
}

export type BenchWeir = Awaited<ReturnType<typeof spawnWeir>>;

/**
 * Writes `config` to `dir`/weir.cnf and runs Weir on it, with `dir` as its datadir and its
 * admin API on a free port. `root` runs another checkout (a baseline); `nodeArgs` are Node's
 * own flags (a preload, --cpu-prof).
 */
export async function startWeirWithConfig(
  dir: string,
  config: string,
  o: { root?: string; nodeArgs?: string[] } = {},
): Promise<BenchWeir> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'weir.cnf'), config);
  return spawnWeir(['--config', join(dir, 'weir.cnf'), '--datadir', dir, '--admin-port', '0'], {}, o.root, o.nodeArgs);
}

/**
 * HAProxy in mode tcp with one thread (Weir runs on one event loop) in front of one server,
 * on a free port; its configuration is written to `dir`/haproxy.cfg.
 */
export async function startHAProxy(dir: string, serverPort: number): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  writeFileSync(
    join(dir, 'haproxy.cfg'),
    `global\n  nbthread 1\n  maxconn 9000\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 1h\n  timeout server 1h\n` +
      `listen mariadb\n  bind 127.0.0.1:${port}\n  server db1 127.0.0.1:${serverPort}\n`,
  );
  const child = spawn('haproxy', ['-f', join(dir, 'haproxy.cfg'), '-db'], { stdio: 'ignore' });
  return { child, port };
}

/** SIGTERM to each process a benchmark started, and waits until all have exited. */
export async function stopProcesses(children: ChildProcess[]): Promise<void> {
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(children.map((c) => exited(c)));
}
