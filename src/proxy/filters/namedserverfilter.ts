/**
 * namedserverfilter: statements matching `matchNN` are routed to `targetNN` (readwritesplit
 * reference §9.3): a server name or a comma list of them (the router takes the first it can
 * use), `->master`, `->slave` or `->all` (which readwritesplit ignores, as MaxScale's does).
 * Pairs are tried in ascending order and the first match wins; `match`+`server` is the
 * legacy single pair. `user` and `source` limit it to some sessions (decided when the
 * session starts). COM_QUERY and COM_STMT_PREPARE texts are matched; a matching PREPARE's
 * target applies to its executions.
 */
import { namedServerPairs } from '../../core/named-server-pairs.ts';
import type { ConfigObject } from '../../core/objects.ts';
import { stringList } from '../../core/objects.ts';
import { Command } from '../protocol/commands.ts';
import type { Hint } from '../routing/router.ts';
import { regexOption, sessionMatcher } from './matching.ts';
import type { FilterInstance, FilterSession } from './types.ts';

function targetHints(target: string): Hint[] {
  const t = target.trim();
  if (t === '->master') return [{ type: 'master' }];
  if (t === '->slave') return [{ type: 'slave' }];
  if (t === '->all') return [{ type: 'all' }];
  return t
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((server) => ({ type: 'server', server }));
}

export function namedserverfilter(filter: ConfigObject): FilterInstance {
  const p = filter.params;
  const options = stringList(p.options!);
  const rules = namedServerPairs(p).pairs.map((pair) => ({
    regex: regexOption(p, pair.match, options)!,
    hints: targetHints(pair.target),
  }));
  const appliesTo = sessionMatcher(filter);
  return {
    newSession(info): FilterSession | null {
      if (!appliesTo(info)) return null;
      return {
        statement(s) {
          if (s.command === Command.STMT_EXECUTE) return;
          const rule = rules.find((r) => r.regex.test(s.sql));
          return rule ? { hints: rule.hints } : undefined;
        },
      };
    },
    retire() {},
  };
}
