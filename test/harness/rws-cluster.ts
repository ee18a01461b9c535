/**
 * The readwritesplit tests' common ground: a GTID primary (db1, server_id 1) and two replicas
 * (db2, db3) with users and a schema, Weir in front with one readwritesplit service and
 * listener per entry of `services`, started once the monitor has found the primary and the
 * replicas, and torn down (clients, Weir, servers) in one call.
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import mysql, { type Connection } from 'mysql2/promise';
import { createUser, freePort, startReplicationTopology, waitFor, type Topology } from './mariadb.ts';
import {
  CLUSTER_ADMIN,
  clusterConfig,
  createClusterAdmin,
  createProxyUser,
  monitorSection,
  PROXY_USER,
  serverSection,
} from './config.ts';
import { asAdmin, removeDir, startTestWeir, type TestWeir } from './weir.ts';

/** A service's parameters after `user`/`password` (a string is `params` alone). */
export interface RwsService {
  /** Default: db1, db2, db3. */
  servers?: string[];
  /** Default: readwritesplit. */
  router?: string;
  /** Parameter lines, e.g. `causal_reads=local\ncausal_reads_timeout=1s`. */
  params?: string;
}

export interface RwsClusterOptions {
  /** Service name → its parameters; each gets a listener `<name>-Listener` on a free port. */
  services: Record<string, string | RwsService>;
  /** User name → grants; each user's password is `<name>-pw`. Default: `app` with ALL PRIVILEGES. */
  users?: Record<string, string>;
  /** Statements run on the primary after the users; the replicas have applied them when Weir starts. */
  schema?: string[];
  /** What client() connects to. */
  database: string;
  /**
   * Without it a mariadbmon `Monitor` (every 200 ms) watches as the proxy user, which is also
   * the services' account. With it the monitor is `Cluster`, with the cluster admin's grants
   * for switchover and failover (clusterConfig), and that account is the services' too.
   */
  cluster?: { failcount: number; readTimeout?: string; extra?: string };
  /** More sections (servers, monitors, filters), given the topology. */
  extraConfig?: (topo: Topology) => string;
}

export interface RwsCluster {
  topo: Topology;
  t: TestWeir;
  /** Service name → its listener's port. */
  ports: Record<string, number>;
  /** A mysql2 connection to a service, as `app` unless `opts` says otherwise; closed by close(). */
  client(service: string, opts?: Partial<mysql.ConnectionOptions>): Promise<Connection>;
  /** Something else close() should end first (another connector's connection). */
  track(c: { end(): Promise<unknown> }): void;
  /** GET /services/{service}: its router_diagnostics. */
  diagnostics(service: string): Promise<Record<string, any>>;
  /** GET /sessions: every session with its router_diagnostics. */
  sessions(): Promise<Array<Record<string, any>>>;
  /** Destroys the connections client() made so far, each resolved once its socket has closed. */
  closeClients(): Promise<void>;
  /** Clients, Weir (its datadir kept with WEIR_KEEP_DATADIR=1), then the servers. */
  close(): Promise<void>;
}

const SERVERS = ['db1', 'db2', 'db3'];

/** A service and its listener; the account is the one Weir loads users with. */
export function rwsSections(
  name: string,
  port: number,
  spec: string | RwsService,
  account: { user: string; password: string } = PROXY_USER,
): string {
  const s = typeof spec === 'string' ? { params: spec } : spec;
  const params = s.params ? s.params.replace(/\n*$/, '\n') : '';
  return (
    `[${name}]\ntype=service\nrouter=${s.router ?? 'readwritesplit'}\nservers=${(s.servers ?? SERVERS).join(',')}\n` +
    `user=${account.user}\npassword=${account.password}\n${params}\n` +
    `[${name}-Listener]\ntype=listener\nservice=${name}\naddress=127.0.0.1\nport=${port}\n\n`
  );
}

export async function startRwsCluster(o: RwsClusterOptions): Promise<RwsCluster> {
  const topo = await startReplicationTopology(2);
  let t: TestWeir | undefined;
  try {
    const account = o.cluster ? CLUSTER_ADMIN : PROXY_USER;
    if (o.cluster) await createClusterAdmin(topo);
    else await createProxyUser(topo.primary);
    for (const [user, grants] of Object.entries(o.users ?? { app: 'ALL PRIVILEGES ON *.*' }))
      await createUser(topo.primary, user, `${user}-pw`, grants);
    for (const sql of o.schema ?? []) await topo.primary.query(sql);
    const [{ pos }] = await topo.primary.query('SELECT @@gtid_binlog_pos AS pos');
    for (const r of topo.replicas)
      await waitFor(`${r.name} to catch up`, async () => (await r.query('SELECT @@gtid_slave_pos AS p'))[0].p === pos);

    const ports: Record<string, number> = {};
    for (const name of Object.keys(o.services)) ports[name] = await freePort();
    const monitorName = o.cluster ? 'Cluster' : 'Monitor';
    const config =
      (o.cluster
        ? clusterConfig(topo, { intervalMs: 200, ...o.cluster })
        : `[maxscale]\nadmin_host=127.0.0.1\nusers_refresh_time=0s\n\n` +
          [topo.primary, ...topo.replicas].map((s) => serverSection(s.name, s.port)).join('') +
          monitorSection(monitorName, SERVERS, 200)) +
      Object.entries(o.services)
        .map(([name, spec]) => rwsSections(name, ports[name]!, spec, account))
        .join('') +
      (o.extraConfig?.(topo) ?? '');
    t = await startTestWeir({ config });
    const weir = t.weir;
    const has = (server: string, ...flags: string[]) =>
      flags.every((f) => weir.context.core.get('server', server).runtime.facts.flags.includes(f));
    await waitFor('the monitor to find the primary and replicas', async () => {
      await weir.context.monitors.get(monitorName)!.nextTick();
      return has('db1', 'master', 'running') && has('db2', 'slave', 'running') && has('db3', 'slave', 'running');
    });
    return cluster(o, topo, t, ports);
  } catch (err) {
    await t?.stop().catch(() => undefined);
    if (t) removeDir(t.datadir);
    await topo.destroy();
    throw err;
  }
}

function cluster(o: RwsClusterOptions, topo: Topology, t: TestWeir, ports: Record<string, number>): RwsCluster {
  const clients: Connection[] = [];
  const others: Array<{ end(): Promise<unknown> }> = [];
  const closeClients = async () => {
    await Promise.all(clients.splice(0).map(destroyed));
  };
  return {
    topo,
    t,
    ports,
    async client(service, opts = {}) {
      const c = await mysql.createConnection({
        host: '127.0.0.1',
        port: ports[service],
        user: 'app',
        password: 'app-pw',
        database: o.database,
        ...opts,
      });
      clients.push(c);
      return c;
    },
    track(c) {
      others.push(c);
    },
    async diagnostics(service) {
      return (await asAdmin(t.http.get(`/services/${service}`)).expect(200)).body.router_diagnostics;
    },
    async sessions() {
      return (await asAdmin(t.http.get('/sessions')).expect(200)).body;
    },
    closeClients,
    async close() {
      await Promise.all(others.splice(0).map((c) => c.end().catch(() => undefined)));
      await closeClients();
      await t.stop();
      // WEIR_KEEP_DATADIR=1 keeps Weir's log (<datadir>/.../weir.log) for a look afterwards.
      if (process.env.WEIR_KEEP_DATADIR) console.log(`Weir's datadir kept: ${t.datadir}`);
      else removeDir(t.datadir);
      await topo.destroy();
    },
  };
}

/**
 * Destroys a client connection and resolves once its socket has closed: destroy() returns
 * nothing to await, and Weir should not stop while its sessions are still going.
 */
export function destroyed(c: Connection): Promise<unknown> {
  const socket = (c as unknown as { connection: { stream: Socket } }).connection.stream;
  const closed = socket.closed || socket.destroyed ? Promise.resolve() : once(socket, 'close');
  c.destroy();
  return closed;
}
