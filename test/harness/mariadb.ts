/**
 * Real, throw-away MariaDB servers for tests, from the system's `mariadbd`: a fresh datadir
 * (copied from one template initialised per process), a free port, root without a
 * password over the socket and from 127.0.0.1. Never touches the machine's own MariaDB.
 * Readiness and replication are waited for by polling, never by sleeping a guessed time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';

const MARIADBD = ['/usr/sbin/mariadbd', '/usr/bin/mariadbd'].find(existsSync) ?? 'mariadbd';
const INSTALL_DB =
  ['/usr/bin/mariadb-install-db', '/usr/bin/mysql_install_db'].find(existsSync) ?? 'mariadb-install-db';
const START_DEADLINE_MS = 90_000;
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface MariaDBServer {
  readonly name: string;
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly socket: string;
  readonly datadir: string;
  readonly pid: number;
  /** Runs SQL as root over the socket: rows for SELECT/SHOW, the OK result otherwise. */
  query(sql: string, values?: unknown[]): Promise<any>;
  /** SIGKILL and wait for the exit; the datadir stays for restart(). */
  kill(): Promise<void>;
  /** Clean shutdown; the datadir stays. */
  stop(): Promise<void>;
  /** Starts again on the same port and datadir; resolves when it answers. */
  restart(): Promise<void>;
  /** Stops it if running and deletes its files. Idempotent. */
  destroy(): Promise<void>;
}

export interface StartOptions {
  name?: string;
  serverId?: number;
  binlog?: boolean;
  readOnly?: boolean;
  extraArgs?: string[];
  /** Options the system tables are created with as well (mariadb-install-db), e.g. a server collation. */
  installArgs?: string[];
}

const templates = new Map<string, Promise<string>>();

/**
 * One initialised datadir per process (and per set of server options that shape the system
 * tables, such as the collation); servers get copies, since initialising takes seconds.
 */
function templateDatadir(installArgs: string[] = []): Promise<string> {
  const key = installArgs.join(' ');
  let template = templates.get(key);
  if (!template) {
    template = (async () => {
      const base = mkdtempSync(join(tmpdir(), 'weir-mariadb-template-'));
      const dir = join(base, 'data');
      // The bootstrap's temporary tables live in its own tmpdir: see privateTmpdir.
      await run(INSTALL_DB, [
        '--no-defaults',
        '--user=root',
        `--datadir=${dir}`,
        `--tmpdir=${privateTmpdir(base)}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        ...installArgs,
      ]);
      process.on('exit', () => rmSync(join(dir, '..'), { recursive: true, force: true }));
      return dir;
    })();
    templates.set(key, template);
  }
  return template;
}

/**
 * A server's own directory for temporary tables. Never the shared /tmp: a starting
 * mariadbd deletes every `#sql*` file in its tmpdir as left over from an earlier run
 * (mysql_rm_tmp_tables), so a server starting beside another one (every test file starts
 * its own, several run at once) removed the other's temporary tables under it, and a
 * concurrent mariadb-install-db then failed with "Unknown table 'mysql.tmp_user_nopasswd'".
 */
function privateTmpdir(base: string): string {
  const dir = join(base, 'tmp');
  mkdirSync(dir, { recursive: true });
  return dir;
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}:\n${out}`))));
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

let counter = 0;

export async function startMariaDB(opts: StartOptions = {}): Promise<MariaDBServer> {
  const base = mkdtempSync(join(tmpdir(), 'weir-mariadb-'));
  const datadir = join(base, 'data');
  cpSync(await templateDatadir(opts.installArgs), datadir, { recursive: true });
  const name = opts.name ?? `db${++counter}`;
  const socket = join(base, 's.sock');
  const errLog = join(base, 'error.log');
  const tmp = privateTmpdir(base);
  let port = await freePort();
  let child: ChildProcess | null = null;

  const args = () => [
    '--no-defaults',
    '--user=root',
    `--datadir=${datadir}`,
    `--tmpdir=${tmp}`,
    `--socket=${socket}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    `--log-error=${errLog}`,
    `--pid-file=${join(base, 'mariadbd.pid')}`,
    `--server-id=${opts.serverId ?? 1}`,
    '--innodb-buffer-pool-size=16M',
    '--skip-name-resolve',
    ...(opts.binlog ? ['--log-bin=mariadb-bin', '--log-slave-updates', '--gtid-strict-mode=1'] : ['--skip-log-bin']),
    ...(opts.readOnly ? ['--read-only=1'] : []),
    ...(opts.installArgs ?? []),
    ...(opts.extraArgs ?? []),
  ];

  const connectRoot = () =>
    mysql.createConnection({ socketPath: socket, user: 'root', password: '', multipleStatements: true });

  async function launch(): Promise<void> {
    const c = spawn(MARIADBD, args(), { stdio: 'ignore' });
    child = c;
    running.add(c);
    c.once('exit', () => running.delete(c));
    const deadline = Date.now() + START_DEADLINE_MS;
    for (;;) {
      if (c.exitCode !== null || c.signalCode !== null) {
        throw new Error(`mariadbd exited while starting:\n${tail(errLog)}`);
      }
      try {
        const conn = await connectRoot();
        await conn.end();
        return;
      } catch {
        if (Date.now() > deadline)
          throw new Error(`mariadbd did not answer within ${START_DEADLINE_MS} ms:\n${tail(errLog)}`);
        await sleep(50);
      }
    }
  }

  async function waitExit(c: ChildProcess, ms: number): Promise<boolean> {
    if (c.exitCode !== null || c.signalCode !== null) return true;
    return Promise.race([
      new Promise<boolean>((r) => c.once('exit', () => r(true))),
      sleep(ms, undefined, { ref: false }).then(() => false),
    ]);
  }

  // A port picked free can still be taken before mariadbd binds it: pick another.
  for (let attempt = 0; ; attempt++) {
    try {
      await launch();
      break;
    } catch (err) {
      if (attempt < 3 && /Address already in use|Can't start server: Bind/.test(String(err))) {
        port = await freePort();
        continue;
      }
      throw err;
    }
  }

  const server: MariaDBServer = {
    name,
    host: '127.0.0.1',
    socket,
    datadir,
    get port() {
      return port;
    },
    get pid() {
      return child?.pid ?? -1;
    },
    async query(sql, values) {
      const conn = await connectRoot();
      try {
        const [rows] = await conn.query(sql, values);
        return rows;
      } finally {
        await conn.end();
      }
    },
    async kill() {
      if (!child) return;
      child.kill('SIGKILL');
      await waitExit(child, 30_000);
      child = null;
    },
    async stop() {
      if (!child) return;
      const c = child;
      c.kill('SIGTERM');
      if (!(await waitExit(c, 60_000))) {
        c.kill('SIGKILL');
        await waitExit(c, 30_000);
      }
      child = null;
    },
    async restart() {
      if (child) await server.stop();
      await launch();
    },
    async destroy() {
      await server.stop();
      rmSync(base, { recursive: true, force: true });
    },
  };
  return server;
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '(no error log)';
  }
}

export async function createUser(
  server: MariaDBServer,
  user: string,
  password: string,
  grants = 'ALL PRIVILEGES ON *.*',
): Promise<void> {
  await server.query(`CREATE USER IF NOT EXISTS '${user}'@'127.0.0.1' IDENTIFIED BY '${password.replace(/'/g, "''")}'`);
  await server.query(`CREATE USER IF NOT EXISTS '${user}'@'localhost' IDENTIFIED BY '${password.replace(/'/g, "''")}'`);
  await server.query(`GRANT ${grants} TO '${user}'@'127.0.0.1'`);
  await server.query(`GRANT ${grants} TO '${user}'@'localhost'`);
}

export interface Topology {
  primary: MariaDBServer;
  replicas: MariaDBServer[];
  replicationUser: string;
  replicationPassword: string;
  destroy(): Promise<void>;
}

/** Polls until `check` returns true, or fails after the deadline with `what`. */
export async function waitFor(what: string, check: () => Promise<boolean>, deadlineMs = 60_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * SIGSTOPs a process and resolves once every one of its threads is stopped: the signal is
 * delivered asynchronously, and a server that is still running for a moment answers the
 * statement a test sends next.
 */
export async function freeze(pid: number): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  await waitFor(`process ${pid} to be stopped`, async () =>
    readdirSync(`/proc/${pid}/task`).every((tid) => {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      // The state follows the command name, which is in parentheses and may hold spaces.
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'T';
    }),
  );
}

/** A GTID primary and N replicas replicating from it, running and caught up. */
export async function startReplicationTopology(replicaCount = 2): Promise<Topology> {
  const servers = await Promise.all(
    Array.from({ length: replicaCount + 1 }, (_, i) =>
      startMariaDB({ name: `db${i + 1}`, serverId: i + 1, binlog: true, readOnly: i > 0 }),
    ),
  );
  const [primary, ...replicas] = servers as [MariaDBServer, ...MariaDBServer[]];
  const replicationUser = 'repl';
  const replicationPassword = 'repl-pw';
  await primary.query(`CREATE USER '${replicationUser}'@'127.0.0.1' IDENTIFIED BY '${replicationPassword}'`);
  await primary.query(
    `GRANT REPLICATION SLAVE, REPLICATION SLAVE ADMIN, BINLOG MONITOR ON *.* TO '${replicationUser}'@'127.0.0.1'`,
  );
  for (const r of replicas) {
    await r.query(
      `CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${primary.port}, MASTER_USER='${replicationUser}', ` +
        `MASTER_PASSWORD='${replicationPassword}', MASTER_USE_GTID=slave_pos`,
    );
    await r.query('START SLAVE');
  }
  const [{ pos }] = await primary.query('SELECT @@gtid_binlog_pos AS pos');
  for (const r of replicas) {
    await waitFor(`${r.name} to replicate`, async () => {
      const [s] = await r.query('SHOW ALL SLAVES STATUS');
      const [{ cur }] = await r.query('SELECT @@gtid_slave_pos AS cur');
      return s?.Slave_IO_Running === 'Yes' && s?.Slave_SQL_Running === 'Yes' && cur === pos;
    });
  }
  return {
    primary,
    replicas,
    replicationUser,
    replicationPassword,
    async destroy() {
      await Promise.all(servers.map((s) => s.destroy()));
    },
  };
}
