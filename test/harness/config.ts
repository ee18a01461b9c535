/**
 * Builders for the Weir configuration files tests and benchmarks write, and the accounts
 * Weir needs on a throw-away MariaDB: one place for what every proxy test repeats.
 */
import { createUser, type MariaDBServer, type Topology } from './mariadb.ts';

/** Weir's account on a backend: loads user accounts (service) and watches the server (monitor). */
export const PROXY_USER = { user: 'maxuser', password: 'max-pw' } as const;

export async function createProxyUser(db: MariaDBServer): Promise<void> {
  await createUser(db, PROXY_USER.user, PROXY_USER.password, 'SELECT ON mysql.*');
  await db.query(`GRANT SHOW DATABASES, REPLICATION CLIENT, REPLICA MONITOR ON *.* TO ${PROXY_USER.user}@'127.0.0.1'`);
}

export function serverSection(name: string, port: number): string {
  return `[${name}]\ntype=server\naddress=127.0.0.1\nport=${port}\n\n`;
}

export function monitorSection(name: string, servers: string[], intervalMs: number, extra = ''): string {
  return (
    `[${name}]\ntype=monitor\nmodule=mariadbmon\nservers=${servers.join(',')}\nuser=${PROXY_USER.user}\npassword=${PROXY_USER.password}\n` +
    `monitor_interval=${intervalMs}ms\n${extra}\n`
  );
}

/** A service (readconnroute unless `router` says otherwise) and its listener on `port`. */
export function serviceSections(
  name: string,
  port: number,
  o: { servers: string[]; router?: string; routerOptions?: string; filters?: string; extra?: string },
): string {
  const router = o.router ?? 'readconnroute';
  const routing =
    router === 'readconnroute'
      ? `router=readconnroute\nrouter_options=${o.routerOptions ?? 'running'}\n`
      : `router=${router}\n`;
  return (
    `[${name}]\ntype=service\n${routing}servers=${o.servers.join(',')}\n` +
    `user=${PROXY_USER.user}\npassword=${PROXY_USER.password}\n${o.filters ? `filters=${o.filters}\n` : ''}${o.extra ?? ''}\n` +
    `[${name}-Listener]\ntype=listener\nservice=${name}\naddress=127.0.0.1\nport=${port}\n\n`
  );
}

/** One server `db1`, a monitor on it and one service per entry of `services` (name -> listener port). */
export function oneServerConfig(
  db: MariaDBServer,
  o: {
    services: Record<string, number>;
    monitorIntervalMs?: number;
    globals?: string;
    extra?: string;
    filters?: Record<string, string>;
  },
): string {
  return (
    `[maxscale]\nadmin_host=127.0.0.1\n${o.globals ?? ''}\n\n` +
    serverSection('db1', db.port) +
    monitorSection('Monitor', ['db1'], o.monitorIntervalMs ?? 500) +
    (o.extra ?? '') +
    Object.entries(o.services)
      .map(([name, port]) => serviceSections(name, port, { servers: ['db1'], filters: o.filters?.[name] }))
      .join('')
  );
}

/** What mariadbmon needs for cluster operations (as MaxScale documents for its monitor user). */
export const CLUSTER_ADMIN = {
  user: 'maxadm',
  password: 'adm-pw',
  grants:
    'SUPER, RELOAD, PROCESS, SHOW DATABASES, REPLICATION CLIENT, REPLICA MONITOR, READ_ONLY ADMIN, ' +
    'REPLICATION SLAVE ADMIN, BINLOG ADMIN, BINLOG MONITOR, CONNECTION ADMIN ON *.*',
} as const;

export async function createClusterAdmin(topo: Topology): Promise<void> {
  await createUser(topo.primary, CLUSTER_ADMIN.user, CLUSTER_ADMIN.password, CLUSTER_ADMIN.grants);
  await topo.primary.query(`GRANT SELECT ON mysql.* TO ${CLUSTER_ADMIN.user}@'127.0.0.1'`);
}

/** Every server of a replication topology and a mariadbmon `Cluster` on them that may run cluster operations. */
export function clusterConfig(
  topo: Topology,
  o: { intervalMs: number; failcount: number; readTimeout?: string; extra?: string },
): string {
  const servers = [topo.primary, ...topo.replicas];
  return (
    `[maxscale]\nadmin_host=127.0.0.1\nusers_refresh_time=0s\n\n` +
    servers.map((s) => serverSection(s.name, s.port)).join('') +
    `[Cluster]\ntype=monitor\nmodule=mariadbmon\nservers=${servers.map((s) => s.name).join(',')}\n` +
    `user=${CLUSTER_ADMIN.user}\npassword=${CLUSTER_ADMIN.password}\n` +
    `replication_user=${topo.replicationUser}\nreplication_password=${topo.replicationPassword}\n` +
    `monitor_interval=${o.intervalMs}ms\nconnect_timeout=1s\nread_timeout=${o.readTimeout ?? '1s'}\nfailcount=${o.failcount}\n${o.extra ?? ''}\n`
  );
}
