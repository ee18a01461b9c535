/**
 * Starts Weir for a test: in-process (fast, with response validation on, so every API
 * test also checks the spec) or as a child process (for restarts and crashes).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import { freePort, waitFor } from './mariadb.ts';
import { stringList } from '../../src/core/objects.ts';
import { startWeir, type RunningWeir } from '../../src/weir.ts';

export const ADMIN = { user: 'admin', password: 'mariadb' } as const;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A small topology that needs no database: servers on ports nothing listens on; LISTENER_PORT becomes a free port. */
export const TEST_CONFIG = `
[maxscale]
admin_host=127.0.0.1

[server1]
type=server
address=127.0.0.1
port=1

[server2]
type=server
address=127.0.0.1
port=2

[Cluster-Monitor]
type=monitor
module=mariadbmon
servers=server1,server2
user=maxmon
password=monpw
monitor_interval=1000ms

[RW-Service]
type=service
router=readconnroute
router_options=master
servers=server1,server2
user=maxuser
password=maxpw

[RW-Listener]
type=listener
service=RW-Service
address=127.0.0.1
port=LISTENER_PORT

[QLA]
type=filter
module=qlafilter
filebase=/tmp/weir-qla
`;

export function tempDir(prefix = 'weir-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface TestWeir {
  weir: RunningWeir;
  /** The free port that replaced LISTENER_PORT in the configuration. */
  listenerPort: number;
  datadir: string;
  configFile: string;
  /** supertest against the running admin API. */
  http: ReturnType<typeof request>;
  stop(): Promise<void>;
  /** Stops and starts again on the same data directory and configuration. */
  restart(): Promise<TestWeir>;
}

/**
 * `serversRunning`: also wait, round by round, until every server a running monitor watches
 * is `running`, for tests whose clients log in at once. One completed round is not enough
 * for them: on a loaded machine a new server's first probe can run into connect_timeout,
 * and a server that round found down takes no sessions.
 */
export async function startTestWeir(
  options: {
    config?: string;
    datadir?: string;
    configFile?: string;
    listenerPort?: number;
    serversRunning?: boolean;
  } = {},
): Promise<TestWeir> {
  const datadir = options.datadir ?? tempDir();
  let configFile = options.configFile;
  const listenerPort = options.listenerPort ?? (await freePort());
  if (!configFile) {
    configFile = join(datadir, 'weir.cnf');
    writeFileSync(configFile, (options.config ?? TEST_CONFIG).replaceAll('LISTENER_PORT', String(listenerPort)));
  }
  const weir = await startWeir({
    configFile,
    datadir,
    adminHost: '127.0.0.1',
    adminPort: 0,
    stdout: false,
    validateResponses: true,
  });
  // Tests start from settled server states: every running monitor has completed a round.
  const { core, monitors } = weir.context;
  await Promise.all(
    core
      .list('monitor')
      .filter((m) => m.params.state === 'running')
      .map((m) => monitors.get(m.name)!.nextTick()),
  );
  if (options.serversRunning) {
    for (const m of core.list('monitor').filter((m) => m.params.state === 'running')) {
      const watched = stringList(m.params.servers!);
      const allRunning = () =>
        watched.every((name) => core.find('server', name)?.runtime.facts.flags.includes('running'));
      await waitFor(`the servers of monitor '${m.name}' to be running`, async () => {
        if (!allRunning()) await monitors.get(m.name)!.nextTick();
        return allRunning();
      });
    }
  }
  const self: TestWeir = {
    weir,
    datadir,
    configFile,
    listenerPort,
    http: request(weir.adminUrl),
    async stop() {
      await weir.stop();
    },
    async restart() {
      await weir.stop();
      return startTestWeir({ datadir, configFile: configFile!, listenerPort });
    },
  };
  return self;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A configuration file for a child-process Weir, with a free listener port. */
export async function writeTestConfig(dir: string, config = TEST_CONFIG): Promise<string> {
  const file = join(dir, 'weir.cnf');
  writeFileSync(file, config.replaceAll('LISTENER_PORT', String(await freePort())));
  return file;
}

/**
 * Runs `weir` as a child process; resolves once its admin API answers. `root` runs another
 * checkout (a benchmark compares against an earlier commit).
 */
export async function spawnWeir(
  args: string[],
  env: Record<string, string> = {},
  root = ROOT,
  /** Node's own flags (--trace-gc, --cpu-prof...: not all are allowed in NODE_OPTIONS). */
  nodeArgs: string[] = [],
): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', join(root, 'src/main.ts'), ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const url = await new Promise<string>((resolve, reject) => {
    const onData = () => {
      const m = /admin API on (http:\/\/[^\s"]+)/.exec(output);
      if (m) {
        child.stdout!.off('data', onData);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`weir exited (${code}) before serving:\n${output}`)));
  });
  return { child, url, output: () => output };
}

/** Waits for a child to exit; resolves with its exit code or signal. */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** Runs `weir` to completion (for --validate and failing starts). */
export function runWeir(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main.ts'), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

/** Sends a supertest request as the default admin user. */
export const asAdmin = <T extends { auth(user: string, password: string): T }>(req: T): T =>
  req.auth(ADMIN.user, ADMIN.password);

/**
 * Starts one Weir for a test file (a `describe` block) and stops and removes it after.
 * `box.t` is replaced when a test restarts it.
 */
export function useTestWeir(options: { config?: string } = {}): { t: TestWeir } {
  const box = {} as { t: TestWeir };
  before(async () => {
    box.t = await startTestWeir(options);
  });
  after(async () => {
    await box.t.stop();
    removeDir(box.t.datadir);
  });
  return box;
}
