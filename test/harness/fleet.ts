/**
 * Several Weir processes against one replication topology, each with its own data
 * directory and node name, sharing the cluster's configuration row (config sync) and,
 * when asked, cooperating on the monitor locks. For the scale-out tests and benchmark.
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { CLUSTER_ADMIN, clusterConfig, createClusterAdmin } from './config.ts';
import { waitFor, type Topology } from './mariadb.ts';
import { ADMIN, exited, spawnWeir, tempDir, removeDir } from './weir.ts';

export interface FleetOptions {
  intervalMs?: number;
  failcount?: number;
  /** Extra monitor settings (e.g. auto_failover, cooperative_monitoring_locks). */
  monitorExtra?: string;
  /** Extra `[maxscale]` settings. */
  globals?: string;
}

export interface WeirNode {
  readonly name: string;
  readonly datadir: string;
  child: ChildProcess;
  url: string;
  output(): string;
  http(): ReturnType<typeof request>;
  /** GET /maxscale's config_sync. */
  sync(): Promise<any>;
  get(path: string): Promise<any>;
  patch(path: string, body: unknown): Promise<request.Response>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the process again on the same data directory (after kill or exit). */
  start(env?: Record<string, string>): Promise<void>;
}

/** The sync user needs to create, read and write `mysql.maxscale_config`, as MaxScale documents. */
export async function prepareFleetCluster(topo: Topology): Promise<void> {
  await createClusterAdmin(topo);
  await topo.primary.query(`GRANT SELECT, INSERT, UPDATE, CREATE ON mysql.* TO ${CLUSTER_ADMIN.user}@'127.0.0.1'`);
}

export function fleetConfig(topo: Topology, node: string, o: FleetOptions = {}): string {
  const servers = [topo.primary, ...topo.replicas].map((s) => s.name);
  const base = clusterConfig(topo, {
    intervalMs: o.intervalMs ?? 200,
    failcount: o.failcount ?? 2,
    readTimeout: '3s',
    extra: `switchover_timeout=30s\nfailover_timeout=30s\n${o.monitorExtra ?? ''}`,
  });
  const globals =
    `config_sync_cluster=Cluster\nconfig_sync_user=${CLUSTER_ADMIN.user}\nconfig_sync_password=${CLUSTER_ADMIN.password}\n` +
    `config_sync_interval=200ms\nconfig_sync_timeout=3s\nconfig_sync_node_name=${node}\n${o.globals ?? ''}`;
  return (
    base.replace('[maxscale]\n', `[maxscale]\n${globals}`) +
    `[Svc]\ntype=service\nrouter=readconnroute\nrouter_options=master\nservers=${servers.join(',')}\n` +
    `user=${CLUSTER_ADMIN.user}\npassword=${CLUSTER_ADMIN.password}\n\n`
  );
}

export async function startNode(
  name: string,
  topo: Topology,
  o: FleetOptions = {},
  env: Record<string, string> = {},
): Promise<WeirNode> {
  const datadir = tempDir(`weir-${name}-`);
  const configFile = join(datadir, 'weir.cnf');
  writeFileSync(configFile, fleetConfig(topo, name, o));
  const args = ['--config', configFile, '--datadir', datadir, '--admin-port', '0'];
  let spawned = await spawnWeir(args, env);
  const node: WeirNode = {
    name,
    datadir,
    child: spawned.child,
    url: spawned.url,
    output: () => spawned.output(),
    http: () => request(node.url),
    async sync() {
      return (await node.get('/maxscale')).config_sync;
    },
    async get(path) {
      const res = await request(node.url).get(path).auth(ADMIN.user, ADMIN.password);
      if (res.status !== 200) throw new Error(`${name}: GET ${path} answered ${res.status}: ${res.text}`);
      return res.body;
    },
    patch(path, body) {
      return request(node.url)
        .patch(path)
        .auth(ADMIN.user, ADMIN.password)
        .set('Content-Type', 'application/json-patch+json')
        .send(body as object);
    },
    async kill(signal = 'SIGKILL') {
      const done = exited(node.child);
      node.child.kill(signal);
      await done;
    },
    async start(extraEnv = {}) {
      spawned = await spawnWeir(args, extraEnv);
      node.child = spawned.child;
      node.url = spawned.url;
    },
  };
  return node;
}

export async function stopNodes(nodes: WeirNode[]): Promise<void> {
  await Promise.all(
    nodes.map(async (n) => {
      if (n.child.exitCode === null && n.child.signalCode === null) await n.kill('SIGKILL');
      removeDir(n.datadir);
    }),
  );
}

/** Waits until every node reports the same version (at least `atLeast`) and checksum, each with status OK. */
export async function waitConverged(nodes: WeirNode[], atLeast: number, deadlineMs = 60_000): Promise<any[]> {
  let last: any[] = [];
  await waitFor(
    `${nodes.map((n) => n.name).join(', ')} to converge on version >= ${atLeast}`,
    async () => {
      last = await Promise.all(nodes.map((n) => n.sync()));
      return last.every(
        (s) =>
          s.version >= atLeast &&
          s.version === last[0].version &&
          s.checksum === last[0].checksum &&
          (s.status === 'OK' || s.version === 0),
      );
    },
    deadlineMs,
  ).catch((err: Error) => {
    throw new Error(`${err.message}: ${JSON.stringify(last)}`);
  });
  return last;
}

/** Waits until the node's monitor marks a master (config changes need one to reach the cluster). */
export async function waitReady(n: WeirNode, deadlineMs = 60_000): Promise<void> {
  await waitFor(
    `${n.name} to see a master`,
    async () => (await n.get('/servers')).some((s: { state: string[] }) => s.state.includes('master')),
    deadlineMs,
  );
}

/** The service setting the tests change. */
export const maxConnections = async (n: WeirNode): Promise<number> => (await n.get('/services/Svc')).max_connections;
export const setMaxConnections = (n: WeirNode, value: number) =>
  n.patch('/services/Svc', [{ op: 'replace', path: '/max_connections', value }]);
