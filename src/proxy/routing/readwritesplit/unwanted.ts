/**
 * Which of a readwritesplit session's open connections it should stop using (readwritesplit
 * reference §5.4, §5.5): a server in maintenance (or otherwise not usable), a draining one, a
 * replica of another rank than the session's, a replica lagging far behind. The session asks
 * only at a safe point (reply complete, nothing pending, no open transaction) and only after
 * a server it holds changed, so statements pay nothing for it (session.ts, closeUnwanted).
 */
import { serverHasFlag, serverStateBits, StateBit, type ConfigObject } from '../../../core/objects.ts';
import { rankOf } from './ranks.ts';

/** Running, not in maintenance, not down: the session may keep using it. */
export function usable(s: ConfigObject): boolean {
  return (serverStateBits(s) & (StateBit.RUNNING | StateBit.MAINTENANCE | StateBit.DOWN)) === StateBit.RUNNING;
}

/** Usable and not draining: the session may open a new connection to it. */
export function connectable(s: ConfigObject): boolean {
  const bits = serverStateBits(s);
  return (bits & (StateBit.RUNNING | StateBit.MAINTENANCE | StateBit.DOWN | StateBit.DRAINING)) === StateBit.RUNNING;
}

/** The reason given for a draining server (the session decides whether it can leave its primary). */
export const DRAINING = 'the server is draining';

/**
 * MaxScale 24.02.3: an open replica connection is closed when its lag exceeds
 * max(2 × max_replication_lag, 300 s) — far beyond the limit that only keeps new reads away,
 * so a replica that hovers around the limit does not cost the session its connection.
 */
export function lagCloseLimit(maxReplicationLag: number): number {
  return maxReplicationLag > 0 ? Math.max(2 * maxReplicationLag, 300) : 0;
}

/**
 * Why a connection to `server` (held as `role`) should be closed, or null to keep it.
 * `rank`: the rank the session reads at; `lagLimit`: from lagCloseLimit (0: off). The
 * primary's connection is kept for its rank and lag (a session keeps a lower-priority
 * primary as long as it lives); whether a draining primary can be left is the session's call.
 */
export function whyUnwanted(
  server: ConfigObject,
  role: 'master' | 'slave',
  rank: number,
  lagLimit: number,
): string | null {
  // Down is handled when it happens (serverChanged 'down'). A server merely without `running`
  // is one the monitor no longer vouches for (a stopped monitor forgets its facts): its
  // connections stay, as readwritesplit keeps using them for what it already holds.
  if (serverHasFlag(server, 'maintenance')) return 'the server is in maintenance';
  if (serverHasFlag(server, 'draining')) return DRAINING;
  if (role === 'master') return null;
  const own = rankOf(server);
  if (own !== rank) return `the server has rank ${rankName(own)} and the session reads at rank ${rankName(rank)}`;
  const lag = server.runtime.facts.replication_lag;
  if (lagLimit > 0 && lag !== null && lag > lagLimit)
    return `its replication lag of ${lag} s exceeds ${lagLimit} s (max(2 × max_replication_lag, 300 s))`;
  return null;
}

function rankName(rank: number): string {
  return rank === 0 ? 'primary' : 'secondary';
}
