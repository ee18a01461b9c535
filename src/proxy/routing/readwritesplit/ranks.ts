/**
 * Server ranks for readwritesplit (readwritesplit reference §5.2, §5.5). A server's `rank`
 * is `primary` (0, the default) or `secondary` (1); lower is preferred. A session takes the
 * rank of its primary (or, without one, of the best server it could use) and reads only from
 * replicas of that rank: secondary replicas are a fallback for when the primary-rank servers
 * are gone, not extra read capacity.
 */
import { serverStateBits, StateBit, type ConfigObject } from '../../../core/objects.ts';

export function rankOf(server: ConfigObject): number {
  return serverStateBits(server) & StateBit.SECONDARY_RANK ? 1 : 0;
}

/**
 * The rank a session reads at: its primary's when it has or can have one, else the best rank
 * among the servers it may use (`usable`: open or connectable, not failed in this session).
 */
export function sessionRank(primary: ConfigObject | null, usable: ConfigObject[]): number {
  if (primary) return rankOf(primary);
  let best = Number.POSITIVE_INFINITY;
  for (const s of usable) best = Math.min(best, rankOf(s));
  return Number.isFinite(best) ? best : 0;
}
