/**
 * Regular expressions chosen by users — filter parameters (`match`, `exclude`, `user_match`,
 * ...) and the command API's `watch queries --match` — run on RE2's linear-time engine
 * (re2js, a pure-JavaScript port of RE2), never on a backtracking one: a pattern like
 * `(a+)+$` costs time proportional to the statement, so nobody can stall the event loop
 * that every session and the admin API share.
 *
 * The syntax is RE2's, which is PCRE's without the features that need backtracking. What a
 * MaxScale user may write and RE2 refuses is refused with a message naming the feature:
 * backreferences (`\1`, `\k<name>`), lookahead (`(?=`, `(?!`), atomic groups (`(?>`),
 * possessive quantifiers (`a*+`), recursion (`(?R)`), conditionals, `\K`, `\G`, `\Z`.
 * Captureless lookbehind (`(?<=a)`, `(?<!a)`) is supported (linear too).
 * Differences from JavaScript's RegExp worth knowing: `(?i)`, `(?s)`, `(?m)`, `(?U)`,
 * `\Q...\E`, `\A`, `\z`, `\x{41}`, `(?P<name>...)` and POSIX classes work; `\u0041` does not
 * (write `\x{0041}`); `\s` is ASCII whitespace; repeat counts stop at 1000.
 */
import { RE2JS } from 're2js';

export interface UserRegex {
  /** The pattern as compiled (after `/.../` and `extended` are undone). */
  readonly source: string;
  /** Whether the pattern matches anywhere in `text`. */
  test(text: string): boolean;
  /** Every match replaced, `$1`, `$<name>`, `$&` and `$$` expanded as String.prototype.replace does. */
  replaceAll(text: string, replacement: string): string;
}

/** Patterns longer than this are refused: nobody writes one by hand, and compiling costs memory. */
export const MAX_PATTERN_LENGTH = 10_000;

const UNSUPPORTED: Array<[RegExp, string]> = [
  [/\\[1-9]/, 'a backreference (\\1...)'],
  [/\\k[<{']/, 'a named backreference (\\k<name>)'],
  [/\(\?[=!]/, 'lookahead ((?= or (?!)'],
  [/\(\?<[=!]\(/, 'a capturing group inside a lookbehind'],
  [/\(\?>/, 'an atomic group ((?>)'],
  [/[*+?}]\+/, 'a possessive quantifier (*+, ++, ?+)'],
  [/\(\?(?:R|[+-]?\d|&|P>)/, 'recursion ((?R), (?1))'],
  [/\(\?\(/, 'a conditional ((?(...)...|...))'],
  [/\\K/, '\\K'],
  [/\\G/, '\\G'],
  [/\\Z/, '\\Z (use \\z)'],
];

/**
 * A regex parameter may be written `/.../` (MaxScale's style) or bare; `options` are
 * MaxScale's filter options (`ignorecase`, `extended`). Throws an Error whose message reads
 * after the parameter's name ("is not a valid regular expression: ...").
 */
export function compileRegex(source: string, options: readonly string[] = []): UserRegex {
  const slashed = /^\/.*\/$/s.test(source) && source.length >= 2 ? source.slice(1, -1) : source;
  const body = options.includes('extended') ? stripExtended(slashed) : slashed;
  if (body.length > MAX_PATTERN_LENGTH) throw new Error(`is longer than ${MAX_PATTERN_LENGTH} characters`);
  let flags = RE2JS.LOOKBEHINDS;
  if (options.includes('ignorecase')) flags |= RE2JS.CASE_INSENSITIVE;
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(body, flags);
  } catch (err) {
    const feature = unsupportedFeature(body);
    if (feature) {
      throw new Error(
        `uses ${feature}, which Weir does not support: user-supplied regular expressions run on a linear-time engine (RE2 syntax), which has no backreferences, lookahead, atomic groups or possessive quantifiers`,
        { cause: err },
      );
    }
    throw new Error(
      `is not a valid regular expression: ${(err as Error).message.replace(/^error parsing regexp: /, '')}`,
      { cause: err },
    );
  }
  return {
    source: body,
    test: (text) => compiled.test(text),
    replaceAll: (text, replacement) => compiled.matcher(text).replaceAll(replacement),
  };
}

/** The PCRE feature RE2 lacks that `pattern` uses, if any (looked for outside character classes). */
function unsupportedFeature(pattern: string): string | null {
  const outside = withoutClasses(pattern);
  for (const [re, name] of UNSUPPORTED) if (re.test(outside)) return name;
  return null;
}

/** The pattern with `[...]` classes blanked, so `[*+]` is not taken for a possessive quantifier. */
function withoutClasses(pattern: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      out += inClass ? '  ' : c + (pattern[i + 1] ?? '');
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
      out += ' ';
    } else if (c === '[') {
      inClass = true;
      if (pattern[i + 1] === ']') i++;
      out += ' ';
    } else out += c;
  }
  return out;
}

/** PCRE's `x` flag: whitespace and `#` comments outside character classes are not part of the pattern. */
export function stripExtended(pattern: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      out += c + (pattern[i + 1] ?? '');
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
      out += c;
    } else if (c === '[') {
      inClass = true;
      out += c;
    } else if (c === '#') {
      while (i < pattern.length && pattern[i] !== '\n') i++;
    } else if (!/\s/.test(c)) out += c;
  }
  return out;
}
