/**
 * Roles from one round's probe results, as mariadbmon assigns them. A pure function, so
 * the rules can be tested without servers:
 *
 * - A server that answered is `running`; one that refused the monitor's credentials is
 *   `auth_error` (and running); one that did not answer is `down`.
 * - A server replicates from another monitored server when one of its slave connections
 *   points at that server's address and port. It is a `slave` when that connection's IO
 *   and SQL threads both run and the server it replicates from is running.
 * - The primary is a running, writable server that does not replicate from another
 *   monitored server. The current primary is kept while it stays valid; otherwise the
 *   candidate with the most replicas wins, ties broken by the order of `servers`.
 */
import type { ProbeResult, SlaveConnection } from './probe.ts';

export interface Observed {
  name: string;
  address: string;
  port: number;
  result: ProbeResult;
}

export interface Role {
  flags: string[];
  replicatesFrom: string | null;
  lag: number | null;
}

export function assignRoles(
  servers: Observed[],
  currentPrimary: string | null,
): { primary: string | null; roles: Map<string, Role> } {
  const byAddress = (host: string, port: number) => servers.find((s) => s.port === port && sameHost(s.address, host));
  const up = (s: Observed | undefined) => !!s && s.result.status === 'up';

  const link = new Map<string, { master: Observed; conn: SlaveConnection } | null>();
  for (const s of servers) {
    if (s.result.status !== 'up') continue;
    // Prefer a working connection when a server has several.
    const conns = s.result.slaves
      .map((conn) => ({ conn, master: byAddress(conn.master_host, conn.master_port) }))
      .filter((x): x is { conn: SlaveConnection; master: Observed } => !!x.master && x.master.name !== s.name)
      .sort(
        (a, b) => Number(b.conn.io_running && b.conn.sql_running) - Number(a.conn.io_running && a.conn.sql_running),
      );
    link.set(s.name, conns[0] ?? null);
  }
  // MaxScale's default (slave_conditions=none): a replica keeps its role while its primary is
  // down and its IO thread keeps trying (Connecting), so reads go on during a failover and
  // readwritesplit sessions can still open (master_failure_mode=fail_on_write).
  const isSlave = (s: Observed) => {
    const l = link.get(s.name);
    if (!l || !l.conn.sql_running) return false;
    // An IO thread still running is a replica even when its primary was just seen down: the
    // replica has not noticed yet and will be `Connecting` next (reads carry on meanwhile).
    if (l.conn.io_running) return true;
    return !up(l.master) && l.conn.io_state === 'Connecting';
  };
  const replicaCount = (s: Observed) =>
    servers.filter((r) => link.get(r.name)?.master.name === s.name && isSlave(r)).length;
  // A server still trying to reach its primary (IO thread `Connecting`) is a replica
  // waiting for it, not a primary: only a failover may promote it.
  const candidate = (s: Observed) =>
    s.result.status === 'up' && !s.result.read_only && (link.get(s.name)?.conn.io_state ?? 'No') === 'No';

  let primary = servers.find((s) => s.name === currentPrimary && candidate(s)) ?? null;
  if (!primary) {
    const candidates = servers.filter(candidate);
    primary = candidates.reduce<Observed | null>(
      (best, s) => (!best || replicaCount(s) > replicaCount(best) ? s : best),
      null,
    );
  }

  const roles = new Map<string, Role>();
  for (const s of servers) {
    const l = link.get(s.name) ?? null;
    const flags: string[] = [];
    if (s.result.status === 'down') flags.push('down');
    else {
      if (s === primary) flags.push('master');
      if (isSlave(s)) flags.push('slave');
      if (s.result.status === 'auth_error') flags.push('auth_error');
      flags.push('running');
    }
    roles.set(s.name, {
      flags,
      replicatesFrom: l?.master.name ?? null,
      lag: l && isSlave(s) ? l.conn.seconds_behind_master : null,
    });
  }
  return { primary: primary?.name ?? null, roles };
}

/** Whether two host names or addresses name the same host (loopback spellings are one). */
export function sameHost(a: string, b: string): boolean {
  const norm = (h: string) => (h === 'localhost' || h === '::1' ? '127.0.0.1' : h.toLowerCase());
  return norm(a) === norm(b);
}

/** The event a state change is, in mariadbmon's names. */
export function stateEvent(before: string[], after: string[]): string | null {
  const had = (f: string) => before.includes(f);
  const has = (f: string) => after.includes(f);
  if (JSON.stringify(before) === JSON.stringify(after)) return null;
  if (has('down')) return had('master') ? 'master_down' : had('slave') ? 'slave_down' : 'server_down';
  if (has('master') && !had('master')) return 'master_up';
  if (has('slave') && !had('slave')) return had('running') ? 'new_slave' : 'slave_up';
  if (had('master') && !has('master')) return 'lost_master';
  if (had('slave') && !has('slave')) return 'lost_slave';
  if (has('auth_error') && !had('auth_error')) return 'auth_error';
  if (has('running') && !had('running')) return 'server_up';
  return 'state_changed';
}
