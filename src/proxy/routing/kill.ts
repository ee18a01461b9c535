/**
 * KILL of a Weir session, as readwritesplit handles it (readwritesplit reference §2.8). The id a client names is a
 * Weir session id (what Weir put in its handshake), not a server thread id, so the statement
 * cannot be forwarded: Weir finds that session's backend connections and sends
 * `KILL [QUERY] <thread id>` to each server over a connection of its own, logged in with the
 * killer's credentials (the servers apply their own privilege checks: a user may kill its own
 * threads, CONNECTION ADMIN/SUPER anyone's).
 */
import type { ConfigObject } from '../../core/objects.ts';
import { Backend, type BackendOwner, type Credentials } from '../backend.ts';
import { Command } from '../protocol/commands.ts';
import { errPacket, okPacket, packet } from '../protocol/packets.ts';
import type { SessionHandle } from './router.ts';

export interface KillTarget {
  server: ConfigObject;
  threadId: number;
}

export interface KillError {
  code: number;
  sqlState: string;
  message: string;
}

/** Sessions whose backend connections can be killed, by Weir session id. */
const killable = new Map<number, () => KillTarget[]>();

export function registerKillable(sessionId: number, backends: () => KillTarget[]): void {
  killable.set(sessionId, backends);
}

export function unregisterKillable(sessionId: number): void {
  killable.delete(sessionId);
}

/** The open backend connections of a session, or null when it does not publish them. */
export function killTargetsOf(sessionId: number): KillTarget[] | null {
  return killable.get(sessionId)?.() ?? null;
}

/** Runs `KILL [QUERY] <thread id>` on one server; the server's error, if any. */
async function killOne(target: KillTarget, credentials: Credentials, query: boolean): Promise<KillError | null> {
  let settle: (e: KillError | null) => void = () => undefined;
  const outcome = new Promise<KillError | null>((resolve) => (settle = resolve));
  const owner: BackendOwner = {
    toClient: () => true,
    whenClientDrains: (resume) => resume(),
    // Lost before the answer: the KILL's outcome is unknown.
    lost: (_b, why) =>
      settle({
        code: 2013,
        sqlState: 'HY000',
        message: `Lost connection to '${target.server.name}' during KILL: ${why}`,
      }),
  };
  let backend: Backend;
  try {
    backend = await Backend.open(target.server, credentials, 'routed', owner, 'KILL');
  } catch (err) {
    return { code: 2003, sqlState: 'HY000', message: (err as Error).message };
  }
  const sql = `KILL ${query ? 'QUERY ' : ''}${target.threadId}`;
  backend.write(packet(0, Buffer.concat([Buffer.from([Command.QUERY]), Buffer.from(sql)])), {
    command: Command.QUERY,
    sink: 'discard',
    done: (reply) => settle(reply.error),
  });
  try {
    return await outcome;
  } finally {
    backend.close();
  }
}

/**
 * Kills the servers' side of each target. A thread that has already gone (1094) is not an
 * error: the connection it belonged to is what the client wanted gone. The first other error
 * is returned.
 */
export async function killOnServers(
  targets: KillTarget[],
  credentials: Credentials,
  query: boolean,
): Promise<KillError | null> {
  const results = await Promise.all(targets.map((t) => killOne(t, credentials, query)));
  return results.find((e) => e !== null && e.code !== 1094) ?? null;
}

/**
 * `KILL [CONNECTION|QUERY] <id>` or COM_PROCESS_KILL from session `killer`: the packet to
 * answer with, or null when the killer killed itself (its session is closed with 1927, as
 * MariaDB does).
 */
export async function kill(killer: SessionHandle, id: number, query: boolean): Promise<Buffer | null> {
  if (id === killer.id) {
    // Its own statement cannot be running while it sends this one: nothing to abort.
    if (query) return okPacket(1);
    killer.fail(1927, '70100', 'Connection was killed');
    return null;
  }
  const target = killer.core.sessions.get(id);
  if (!target) return errPacket(1, 1094, 'HY000', `Unknown thread id: ${id}`);
  const targets = killTargetsOf(id);
  if (targets === null) {
    // A session that does not publish its server threads: only all of it can go.
    if (query) return errPacket(1, 1105, 'HY000', `KILL QUERY of session ${id} is not supported by its router`);
    target.close(`killed by session ${killer.id}`);
    return okPacket(1);
  }
  const err = await killOnServers(targets, killer.credentials(), query);
  if (err) return errPacket(1, err.code, err.sqlState, err.message);
  if (!query) target.close(`killed by session ${killer.id}`);
  return okPacket(1);
}

const KILL_USER =
  /^\s*KILL\s+(?:(?:HARD|SOFT)\s+)?(?:(CONNECTION|QUERY)\s+)?USER\s+(?:'([^']*)'|"([^"]*)"|`([^`]*)`|([^\s@;'"`]+))/i;

/** `KILL [HARD|SOFT] [CONNECTION|QUERY] USER name`: the user and whether only queries go; null for anything else. */
export function parseKillUser(sql: string): { user: string; query: boolean } | null {
  const m = KILL_USER.exec(sql);
  if (!m) return null;
  return { user: m[2] ?? m[3] ?? m[4] ?? m[5]!, query: m[1]?.toUpperCase() === 'QUERY' };
}

/**
 * KILL USER: every Weir session of that user, as KILL <id> would (the killer's own session
 * last, so that it can still be answered when it is not among them).
 */
export async function killUser(killer: SessionHandle, user: string, query: boolean): Promise<Buffer | null> {
  const victims = killer.core.sessions.list().filter((s) => s.user === user && s.id !== killer.id);
  for (const v of victims) {
    const answer = await kill(killer, v.id, query);
    // A kill the servers refused (privileges): that error, and the others are left alone.
    if (answer && answer[4] === 0xff) return answer;
  }
  if (killer.user === user) return kill(killer, killer.id, query);
  return okPacket(1);
}

/** Runs a KILL a client sent (kill-request.ts): the answer for it, or null when the killer killed itself. */
export function runKill(
  killer: SessionHandle,
  k: { id: number; query: boolean; user?: string },
): Promise<Buffer | null> {
  return k.user !== undefined ? killUser(killer, k.user, k.query) : kill(killer, k.id, k.query);
}
