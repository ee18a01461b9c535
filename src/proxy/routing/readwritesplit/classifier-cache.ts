/**
 * MaxScale's query-classifier cache (readwritesplit reference §2.9): a statement is
 * classified once per canonical form, its literals replaced by `?`, so the thousands of
 * `SELECT c FROM sbtest1 WHERE id=<n>` an application sends are tokenized once.
 *
 * Only what the classification cannot depend on is canonicalised. A SELECT's routing
 * depends on its words, punctuation, variables and backquoted names, never on the value of
 * a number or a quoted string, so those become `?`. Anything else (other statements, where
 * `SET autocommit=0`, `KILL 5` or `PREPARE s FROM '...'` turn on a literal; comments, which
 * may be executable; `;`; `@'quoted'` variables) is classified afresh every time. Numbers
 * that are not plain digits (`0x1F`, `1e5`, `1abc`, which may be a name) stay as written.
 *
 * A cached classification is shared by every statement of its form: frozen, never changed.
 */
import { classify, identChar, identStart, type Classification } from './classify.ts';

/** Entries kept; the oldest goes first when full. */
const MAX_ENTRIES = 10_000;
/** Longer statements are classified afresh: they are rarely repeated, and keys cost memory. */
const MAX_KEY_LENGTH = 2048;

const cache = new Map<string, Classification>();

/** MaxScale's `query_classifier_cache` counters. */
export const classifierCacheStats = { hits: 0, misses: 0, inserts: 0, evictions: 0 };

export function classifierCacheSize(): number {
  return cache.size;
}

/** `classify`, through the cache when the statement has a canonical form. Never to be mutated. */
export function classifyStatement(sql: string): Classification {
  const key = canonicalSelect(sql);
  if (key === null) return classify(sql);
  const known = cache.get(key);
  if (known !== undefined) {
    classifierCacheStats.hits++;
    return known;
  }
  classifierCacheStats.misses++;
  const c = classify(sql);
  Object.freeze(c.tables);
  Object.freeze(c.dropped);
  Object.freeze(c);
  if (cache.size >= MAX_ENTRIES) {
    cache.delete(cache.keys().next().value!);
    classifierCacheStats.evictions++;
  }
  cache.set(key, c);
  classifierCacheStats.inserts++;
  return c;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 11;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * A SELECT with its plain numbers and quoted strings replaced by `?`, or null when the
 * statement is not one the cache takes. It reads the text as the tokenizer does (words
 * whole, so `sbtest1` keeps its digit; strings with backslash escapes and doubled quotes).
 */
export function canonicalSelect(sql: string): string | null {
  const n = sql.length;
  if (n > MAX_KEY_LENGTH) return null;
  let i = 0;
  while (i < n && isSpace(sql.charCodeAt(i))) i++;
  // SELECT in any case, as a whole word: `| 0x20` lower-cases ASCII letters.
  if (
    i + 6 > n ||
    (sql.charCodeAt(i) | 0x20) !== 115 ||
    (sql.charCodeAt(i + 1) | 0x20) !== 101 ||
    (sql.charCodeAt(i + 2) | 0x20) !== 108 ||
    (sql.charCodeAt(i + 3) | 0x20) !== 101 ||
    (sql.charCodeAt(i + 4) | 0x20) !== 99 ||
    (sql.charCodeAt(i + 5) | 0x20) !== 116 ||
    (i + 6 < n && identChar(sql.charCodeAt(i + 6)))
  )
    return null;
  let out = '';
  // Where the text not yet copied to `out` starts.
  let from = 0;
  i += 6;
  while (i < n) {
    const c = sql.charCodeAt(i);
    if (identStart(c)) {
      i++;
      while (i < n && identChar(sql.charCodeAt(i))) i++;
      continue;
    }
    if (isDigit(c) || (c === 46 && isDigit(sql.charCodeAt(i + 1)))) {
      let j = i + 1;
      let plain = true;
      for (; j < n; j++) {
        const ch = sql.charCodeAt(j);
        if (!identChar(ch) && ch !== 46) break;
        if (!isDigit(ch) && ch !== 46) plain = false;
      }
      if (plain) {
        out += sql.slice(from, i) + '?';
        from = j;
      }
      i = j;
      continue;
    }
    if (c === 39 || c === 34) {
      let j = i + 1;
      for (; j < n; j++) {
        const ch = sql.charCodeAt(j);
        if (ch === 92) j++;
        else if (ch === c) {
          if (sql.charCodeAt(j + 1) !== c) break;
          j++;
        }
      }
      if (j >= n) return null; // unterminated: the classifier decides
      out += sql.slice(from, i) + '?';
      from = j + 1;
      i = j + 1;
      continue;
    }
    if (c === 96) {
      // A backquoted name is part of the form (a table's name matters).
      let j = i + 1;
      for (; j < n; j++) {
        if (sql.charCodeAt(j) !== 96) continue;
        if (sql.charCodeAt(j + 1) !== 96) break;
        j++;
      }
      if (j >= n) return null;
      i = j + 1;
      continue;
    }
    // `;` (another statement), comments (`#`, `-- `, `/* */`, executable or not), @'quoted' names.
    if (c === 59 || c === 35) return null;
    if ((c === 45 && sql.charCodeAt(i + 1) === 45) || (c === 47 && sql.charCodeAt(i + 1) === 42)) return null;
    if (c === 42 && sql.charCodeAt(i + 1) === 47) return null;
    if (c === 64 && (sql.charCodeAt(i + 1) === 39 || sql.charCodeAt(i + 1) === 34 || sql.charCodeAt(i + 1) === 96))
      return null;
    i++;
  }
  return from === 0 ? sql : out + sql.slice(from);
}
