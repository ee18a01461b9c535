/**
 * namedserverfilter's parameters come in pairs (matchNN with targetNN, or the legacy
 * match with server): which pairs are set, and what is wrong with a half-set one. Checked
 * when a filter is defined, used by the filter to build its rules.
 */
import type { Value } from './params.ts';

export const NAMED_SERVER_PAIRS = 25;

/** The pairs of a namedserverfilter's parameters, in order; problems for half-set pairs. */
export function namedServerPairs(p: Record<string, Value>): {
  pairs: Array<{ match: string; target: string }>;
  problems: Array<{ key: string; message: string }>;
} {
  const pairs: Array<{ match: string; target: string }> = [];
  const problems: Array<{ key: string; message: string }> = [];
  const set = (k: string) => typeof p[k] === 'string' && p[k] !== '';
  for (let i = 1; i <= NAMED_SERVER_PAIRS; i++) {
    const n = String(i).padStart(2, '0');
    const m = `match${n}`;
    const t = `target${n}`;
    if (set(m) && set(t)) pairs.push({ match: m, target: String(p[t]) });
    else if (set(m)) problems.push({ key: t, message: `${m} is set, so ${t} must be too` });
    else if (set(t)) problems.push({ key: m, message: `${t} is set, so ${m} must be too` });
  }
  if (set('match') !== set('server'))
    problems.push({ key: set('match') ? 'server' : 'match', message: 'match and server go together' });
  if (set('match') && set('server')) {
    if (pairs.length) problems.push({ key: 'match', message: 'match/server cannot be used with matchNN/targetNN' });
    else pairs.push({ match: 'match', target: String(p.server) });
  }
  if (pairs.length === 0 && problems.length === 0)
    problems.push({ key: 'match01', message: 'at least one matchNN/targetNN pair is needed' });
  return { pairs, problems };
}
