/**
 * readconnroute picks one server per session, at connect time:
 * - `router_options` says which servers qualify (master, slave, synced, running); a server
 *   in maintenance, draining or down never does;
 * - `slave` falls back to the primary when no replica qualifies;
 * - with options other than `master`, `master_accept_reads=false` excludes the primary;
 * - replicas lagging more than `max_replication_lag` seconds (when set) do not qualify;
 * - among those left: `rank=primary` servers before `secondary` ones, then the fewest
 *   current connections (divided by the `weightby` weight when set), ties by `servers` order.
 */
import type { ConfigObject } from '../../core/objects.ts';
import { serverStates, stringList } from '../../core/objects.ts';

export function selectServer(service: ConfigObject, candidates: readonly ConfigObject[]): ConfigObject | null {
  const options = stringList(service.params.router_options!);
  const acceptReads = service.params.master_accept_reads !== false;
  const maxLag = Number(service.params.max_replication_lag ?? 0);
  const flags = serverStates;
  const usable = candidates.filter((s) => {
    const f = flags(s);
    return f.includes('running') && !f.includes('maintenance') && !f.includes('draining') && !f.includes('down');
  });
  const qualifies = (s: ConfigObject) => {
    const f = flags(s);
    if (f.includes('master') && !options.includes('master') && !acceptReads) return false;
    if (f.includes('slave') && maxLag > 0 && (s.runtime.facts.replication_lag ?? 0) > maxLag) return false;
    return options.some((o) => f.includes(o));
  };
  let pool = usable.filter(qualifies);
  if (pool.length === 0 && options.includes('slave') && !options.includes('master')) {
    pool = usable.filter((s) => flags(s).includes('master'));
  }
  const weightBy = typeof service.params.weightby === 'string' ? service.params.weightby : null;
  const load = (s: ConfigObject) => {
    const weight = weightBy ? Number(s.custom[weightBy] ?? 0) : 1;
    return weight > 0 ? s.runtime.currentConnections / weight : Infinity;
  };
  let best: ConfigObject | null = null;
  for (const s of pool) {
    if (!best) best = s;
    else {
      const rank = (x: ConfigObject) => (x.params.rank === 'secondary' ? 1 : 0);
      if (rank(s) < rank(best) || (rank(s) === rank(best) && load(s) < load(best))) best = s;
    }
  }
  return best;
}
