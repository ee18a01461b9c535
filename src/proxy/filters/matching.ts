/**
 * The parameters most filters share: `match`/`exclude` with `options` pick statements,
 * `user`/`source` pick sessions. Regular expressions are written as in MaxScale (PCRE2,
 * optionally inside slashes) and run on RE2's linear-time engine (src/core/regex.ts), with
 * `ignorecase` and `extended` as MaxScale's options.
 */
import type { ConfigObject } from '../../core/objects.ts';
import { compileRegex, type UserRegex } from '../../core/regex.ts';
import type { SessionInfo } from './types.ts';

export interface Matcher {
  /** Whether the filter applies to this session at all. */
  session(info: SessionInfo): boolean;
  /** Whether it applies to this statement. */
  statement(sql: string): boolean;
}

export function regexOption(params: ConfigObject['params'], key: string, options: string[]): UserRegex | null {
  const source = params[key];
  if (typeof source !== 'string' || source === '') return null;
  return compileRegex(source, options);
}

export function matcher(filter: ConfigObject): Matcher {
  const p = filter.params;
  const options = regexOptions(filter);
  const match = regexOption(p, 'match', options);
  const exclude = regexOption(p, 'exclude', options);
  return {
    session: sessionMatcher(filter),
    statement: (sql) => (match === null || match.test(sql)) && (exclude === null || !exclude.test(sql)),
  };
}

/** Only the sessions part, for filters whose `match` means something else (regexfilter's pattern). */
export function sessionMatcher(filter: ConfigObject): Matcher['session'] {
  const p = filter.params;
  const options = regexOptions(filter);
  const user = typeof p.user === 'string' && p.user !== '' ? p.user : null;
  const source = typeof p.source === 'string' && p.source !== '' ? p.source : null;
  // qlafilter's regular-expression forms of user and source (absent elsewhere: null).
  const userMatch = regexOption(p, 'user_match', options);
  const userExclude = regexOption(p, 'user_exclude', options);
  const sourceMatch = regexOption(p, 'source_match', options);
  const sourceExclude = regexOption(p, 'source_exclude', options);
  return (s) =>
    (user === null || s.user === user) &&
    (source === null || s.address === source) &&
    (userMatch === null || userMatch.test(s.user)) &&
    (userExclude === null || !userExclude.test(s.user)) &&
    (sourceMatch === null || sourceMatch.test(s.address)) &&
    (sourceExclude === null || !sourceExclude.test(s.address));
}

function regexOptions(filter: ConfigObject): string[] {
  return Array.isArray(filter.params.options) ? (filter.params.options as string[]) : [];
}
