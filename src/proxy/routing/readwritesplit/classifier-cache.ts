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
 * The statement is read as the packet's bytes, so a statement found in the cache is never
 * decoded: its canonical form goes into one reused buffer with a hash of it, and the entry
 * under that hash is compared byte for byte. UTF-8 keeps every byte of a non-ASCII
 * character at 0x80 or above, where the tokenizer sees identifier characters, and never
 * inside one an ASCII quote, digit or separator, so bytes and characters split alike.
 *
 * A cached classification is shared by every statement of its form: frozen, never changed.
 */
import { totalmem } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { classify, type Classification } from './classify.ts';

/** Longer statements (bytes) are classified afresh: they are rarely repeated, and keys cost memory. */
const MAX_KEY_LENGTH = 2048;
/**
 * What a cached form costs, in bytes: a fixed part (the Map slot, the entry, the key's typed
 * array, the frozen classification and its arrays) and the form's own bytes. Measured with
 * the heap's figures, a full cache against an emptied one; the memory test holds it to them.
 */
export const ENTRY_OVERHEAD = 680;
export const entryCost = (formLength: number): number => ENTRY_OVERHEAD + formLength;

interface Entry {
  key: Uint8Array;
  c: Classification;
  /** Statements that found this form. */
  hits: number;
  /** Another form with the same hash. */
  next: Entry | null;
}

const cache = new Map<number, Entry>();
let entries = 0;
/** What the entries cost, by entryCost. */
let usedBytes = 0;

/**
 * MaxScale's default `query_classifier_cache_size`: 15 % of the memory. Weir's cache lives in
 * the JavaScript heap, so 15 % of the smaller of the machine's memory and the heap's limit.
 */
export function defaultClassifierCacheSize(): number {
  return Math.floor(0.15 * Math.min(totalmem(), getHeapStatistics().heap_size_limit));
}

let maxBytes = defaultClassifierCacheSize();

/** MaxScale's `query_classifier_cache` counters. */
export const classifierCacheStats = { hits: 0, misses: 0, inserts: 0, evictions: 0 };

/** The cache's budget in bytes (`query_classifier_cache_size`). */
export function classifierCacheLimit(): number {
  return maxBytes;
}

/** Sets the budget; forms beyond it go at once, the oldest first. 0 turns the cache off. */
export function setClassifierCacheLimit(bytes: number): void {
  maxBytes = bytes;
  evictWhile(() => usedBytes > maxBytes);
}

/** What the cached forms cost (bytes, as the budget counts them) and how many there are. */
export function classifierCacheUsage(): { bytes: number; entries: number } {
  return { bytes: usedBytes, entries };
}

/** The cached forms most statements found, most first (ties: the older first). */
export function classifierCacheTop(
  top: number,
): Array<{ canonical: string; hits: number; classification: Classification }> {
  // A bounded selection: the cache may hold millions of forms, and the proxy must not stall.
  const best: Entry[] = [];
  for (const chain of cache.values()) {
    for (let e: Entry | null = chain; e; e = e.next) {
      const full = best.length === top;
      if (full && (top === 0 || best[top - 1]!.hits >= e.hits)) continue;
      // Insertion into the sorted list: the last one drops out when it is full.
      let i = full ? top - 1 : best.length;
      for (; i > 0 && best[i - 1]!.hits < e.hits; i--) best[i] = best[i - 1]!;
      best[i] = e;
    }
  }
  return best.map((e) => ({ canonical: Buffer.from(e.key).toString('utf8'), hits: e.hits, classification: e.c }));
}

function evictWhile(over: () => boolean): void {
  while (over() && cache.size) {
    const [oldest, chain] = cache.entries().next().value!;
    cache.delete(oldest);
    for (let e: Entry | null = chain; e; e = e.next) {
      entries--;
      usedBytes -= entryCost(e.key.length);
      classifierCacheStats.evictions++;
    }
  }
}

/** The canonical form of the last statement read (canonicalize), and its FNV-1a hash. */
const scratch = new Uint8Array(MAX_KEY_LENGTH);
let hash = 0;

/**
 * The classification of the statement in `packet` from byte `from` on, if its form is
 * cached; null when it is not (classifyAndRemember then).
 */
export function lookupClassification(packet: Uint8Array, from: number): Classification | null {
  const length = canonicalize(packet, from, packet.length);
  if (length < 0) return null;
  const found = find(length);
  if (found !== null) {
    classifierCacheStats.hits++;
    return found;
  }
  // A miss is followed by classifyAndRemember on the same packet: its form is in `scratch` already.
  missed = packet;
  missedFrom = from;
  missedLength = length;
  return null;
}

/** The packet whose canonical form `scratch` holds after a lookup that missed (used once, then forgotten). */
let missed: Uint8Array | null = null;
let missedFrom = 0;
let missedLength = 0;

/** `classify(sql)` (`sql`: the same statement, decoded), kept for the next of its form. */
export function classifyAndRemember(packet: Uint8Array, from: number, sql: string): Classification {
  const canonicalised = missed === packet && missedFrom === from;
  missed = null;
  const length = canonicalised ? missedLength : canonicalize(packet, from, packet.length);
  if (length < 0) return classify(sql);
  // After a lookup that missed, the form is known not to be cached.
  if (!canonicalised) {
    const found = find(length);
    if (found !== null) {
      classifierCacheStats.hits++;
      return found;
    }
  }
  classifierCacheStats.misses++;
  const c = classify(sql);
  Object.freeze(c.tables);
  Object.freeze(c.dropped);
  Object.freeze(c);
  const cost = entryCost(length);
  // Bigger than the whole budget (or the cache is off): classified, not kept.
  if (cost > maxBytes) return c;
  const h = hash;
  evictWhile(() => usedBytes + cost > maxBytes);
  cache.set(h, { key: scratch.slice(0, length), c, hits: 0, next: cache.get(h) ?? null });
  entries++;
  usedBytes += cost;
  classifierCacheStats.inserts++;
  return c;
}

/** `classify`, through the cache when the statement has a canonical form. Never to be mutated. */
export function classifyStatement(sql: string): Classification {
  return classifyAndRemember(Buffer.from(sql, 'utf8'), 0, sql);
}

/** The canonical form of `sql` (tests and diagnostics), or null when the cache does not take it. */
export function canonicalSelect(sql: string): string | null {
  const length = canonicalize(Buffer.from(sql, 'utf8'), 0, Buffer.byteLength(sql));
  return length < 0 ? null : Buffer.from(scratch.subarray(0, length)).toString('utf8');
}

function find(length: number): Classification | null {
  for (let e = cache.get(hash) ?? null; e !== null; e = e.next) {
    const key = e.key;
    if (key.length !== length) continue;
    let i = 0;
    while (i < length && key[i] === scratch[i]) i++;
    if (i === length) {
      e.hits++;
      return e.c;
    }
  }
  return null;
}

// Byte classes, looked up rather than compared (canonicalize runs per statement, per byte).
const OTHER = 0;
/** Letters, `_`, `$` and anything beyond ASCII: what the tokenizer starts a word with. */
const WORD = 1;
const DIGIT = 2;
const SPACE = 3;
const CLASS = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  CLASS[c] =
    (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 36 || c >= 0x80
      ? WORD
      : c >= 48 && c <= 57
        ? DIGIT
        : c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 11
          ? SPACE
          : OTHER;
}

/** A word or digit byte: what identifiers are made of. */
function identChar(c: number): boolean {
  const k = CLASS[c]!;
  return k === WORD || k === DIGIT;
}

/**
 * Writes the canonical form of the SELECT in b[from..to) to `scratch` and its hash to
 * `hash`; its length, or -1 when the statement is not one the cache takes. Words are read
 * whole, as the tokenizer reads them (so `sbtest1` keeps its digit); strings know
 * backslash escapes and doubled quotes.
 */
function canonicalize(b: Uint8Array, from: number, to: number): number {
  missed = null; // `scratch` is about to hold another form
  if (to - from > MAX_KEY_LENGTH) return -1;
  let i = from;
  while (i < to && CLASS[b[i]!] === SPACE) i++;
  // SELECT in any case, as a whole word: `| 0x20` lower-cases ASCII letters.
  if (
    i + 6 > to ||
    (b[i]! | 0x20) !== 115 ||
    (b[i + 1]! | 0x20) !== 101 ||
    (b[i + 2]! | 0x20) !== 108 ||
    (b[i + 3]! | 0x20) !== 101 ||
    (b[i + 4]! | 0x20) !== 99 ||
    (b[i + 5]! | 0x20) !== 116 ||
    (i + 6 < to && identChar(b[i + 6]!))
  )
    return -1;
  n = 0;
  h = 0x811c9dc5;
  // Where the bytes not yet copied start (whitespace before the SELECT changes nothing: dropped).
  let pending = i;
  while (i < to) {
    const c = b[i]!;
    const k = CLASS[c]!;
    if (k === WORD) {
      i++;
      while (i < to && identChar(b[i]!)) i++;
      continue;
    }
    if (k === DIGIT || (c === 46 && i + 1 < to && CLASS[b[i + 1]!] === DIGIT)) {
      let j = i + 1;
      let plain = true;
      for (; j < to; j++) {
        const ch = b[j]!;
        const kk = CLASS[ch]!;
        if (kk === DIGIT || ch === 46) continue;
        if (kk !== WORD) break;
        plain = false;
      }
      if (plain) {
        copy(b, pending, i);
        emit(63); // ?
        pending = j;
      }
      i = j;
      continue;
    }
    if (c === 39 || c === 34) {
      let j = i + 1;
      for (; j < to; j++) {
        const ch = b[j]!;
        if (ch === 92) j++;
        else if (ch === c) {
          if (j + 1 >= to || b[j + 1] !== c) break;
          j++;
        }
      }
      if (j >= to) return -1; // unterminated: the classifier decides
      copy(b, pending, i);
      emit(63); // ?
      pending = j + 1;
      i = j + 1;
      continue;
    }
    if (c === 96) {
      // A backquoted name is part of the form (a table's name matters).
      let j = i + 1;
      for (; j < to; j++) {
        if (b[j] !== 96) continue;
        if (j + 1 >= to || b[j + 1] !== 96) break;
        j++;
      }
      if (j >= to) return -1;
      i = j + 1;
      continue;
    }
    // `;` (another statement), comments (`#`, `-- `, `/* */`, executable or not), @'quoted' names.
    if (c === 59 || c === 35) return -1;
    const next = i + 1 < to ? b[i + 1]! : 0;
    if ((c === 45 && next === 45) || (c === 47 && next === 42) || (c === 42 && next === 47)) return -1;
    if (c === 64) {
      // A variable's name is read as the tokenizer reads it, dots and digits included
      // (`@@warning_count.5` is one name, not a name and a number): part of the form.
      if (next === 39 || next === 34 || next === 96) return -1;
      i += next === 64 ? 2 : 1;
      while (i < to && (identChar(b[i]!) || b[i] === 46)) i++;
      continue;
    }
    i++;
  }
  copy(b, pending, to);
  hash = h;
  return n;
}

// The form being written by canonicalize: its length so far and its running hash.
let n = 0;
let h = 0;

function emit(c: number): void {
  scratch[n++] = c;
  h = Math.imul(h ^ c, 0x01000193);
}

function copy(b: Uint8Array, start: number, end: number): void {
  for (let k = start; k < end; k++) emit(b[k]!);
}
