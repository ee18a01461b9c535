/**
 * Password literals are masked out of statements before a statement leaves Weir — the
 * query feed (`watch queries`, `top queries`), qlafilter's files, topfilter's reports,
 * regexfilter's log file and trace lines — for every reader, admins included. Each masked
 * literal becomes `'***'` (its length is not kept).
 *
 * What counts as a password literal (keywords in any case; comments, newlines and tabs
 * between the words do not matter; `/*! ... *\/` executable comments are read as code):
 * - every literal of an `IDENTIFIED ...` clause, up to the `,` that starts the next user or
 *   the end of the statement: `IDENTIFIED BY '…'`, `IDENTIFIED BY PASSWORD '…'`,
 *   `IDENTIFIED VIA|WITH plugin USING|AS '…'`, `… USING PASSWORD('…')` (CREATE USER,
 *   ALTER USER, GRANT);
 * - every literal after the `=` of `SET PASSWORD [FOR user] = …`, wherever it starts
 *   (`SET STATEMENT … FOR SET PASSWORD …`, a second statement of a multi-statement);
 * - the literal after any word ending in `password`, with or without `=`:
 *   `MASTER_PASSWORD='…'`, `CREATE SERVER … OPTIONS (PASSWORD '…')`, `SET @password = '…'`;
 * - every literal argument of `PASSWORD(…)`, `OLD_PASSWORD(…)`, `ENCRYPT(…)` and the
 *   AES/DES encrypt and decrypt functions (whose key is a secret).
 * Literals are strings ('…' or "…", backslash escapes and doubled quotes), X'…', B'…' and
 * 0x… numbers. Over-masking is preferred to a leak: a literal that merely sits in such a
 * clause (an `ISSUER '…'` after `IDENTIFIED BY`) is masked too.
 */

const MASK = "'***'";
/** A statement without any of these words holds no password literal: most skip the scan. */
const MAYBE_SECRET = /password|identified|crypt/i;
const SECRET_FUNCTIONS = new Set([
  'password',
  'old_password',
  'encrypt',
  'aes_encrypt',
  'aes_decrypt',
  'des_encrypt',
  'des_decrypt',
]);

type Token =
  | { kind: 'word'; text: string; start: number; end: number }
  | { kind: 'literal'; start: number; end: number }
  | { kind: 'punct'; text: string; start: number; end: number };

/** The statement with its password literals masked; the same string when there are none. */
export function redactSecrets(sql: string): string {
  if (!MAYBE_SECRET.test(sql)) return sql;
  const tokens = tokenize(sql);
  const secret = new Set<Token>();
  const word = (i: number) => (tokens[i]?.kind === 'word' ? (tokens[i] as { text: string }).text.toLowerCase() : null);
  const punct = (i: number) => (tokens[i]?.kind === 'punct' ? (tokens[i] as { text: string }).text : null);

  for (let i = 0; i < tokens.length; i++) {
    const w = word(i);
    if (w === null) continue;
    if (w === 'set' && word(i + 1) === 'password') {
      // SET PASSWORD [FOR user] = ... (also after SET STATEMENT ... FOR): every literal after
      // the `=`, up to the end of the statement.
      let j = i + 2;
      while (j < tokens.length && punct(j) !== '=' && punct(j) !== ':=' && punct(j) !== ';') j++;
      if (punct(j) === ';') continue;
      for (j++; j < tokens.length && punct(j) !== ';'; j++) if (tokens[j]!.kind === 'literal') secret.add(tokens[j]!);
    } else if (w === 'identified' && ['by', 'via', 'with'].includes(word(i + 1) ?? '')) {
      // The whole authentication clause: up to a `,` or `;` outside parentheses.
      let depth = 0;
      for (let j = i + 1; j < tokens.length; j++) {
        const p = punct(j);
        if (p === '(') depth++;
        else if (p === ')') depth = Math.max(0, depth - 1);
        else if ((p === ',' || p === ';') && depth === 0) break;
        else if (tokens[j]!.kind === 'literal') secret.add(tokens[j]!);
      }
    } else if (SECRET_FUNCTIONS.has(w) && punct(i + 1) === '(') {
      let depth = 0;
      for (let j = i + 1; j < tokens.length; j++) {
        const p = punct(j);
        if (p === '(') depth++;
        else if (p === ')' && --depth === 0) break;
        else if (tokens[j]!.kind === 'literal') secret.add(tokens[j]!);
      }
    } else if (w.endsWith('password')) {
      const next = punct(i + 1) === '=' || punct(i + 1) === ':=' ? i + 2 : i + 1;
      if (tokens[next]?.kind === 'literal') secret.add(tokens[next]!);
    }
  }
  if (secret.size === 0) return sql;
  let out = '';
  let at = 0;
  for (const t of [...secret].sort((a, b) => a.start - b.start)) {
    out += sql.slice(at, t.start) + MASK;
    at = t.end;
  }
  return out + sql.slice(at);
}

/** Whether a statement holds a password literal. */
export function hasSecrets(sql: string): boolean {
  return redactSecrets(sql) !== sql;
}

/**
 * Words, literals and punctuation of a statement, as MariaDB reads them; comments are
 * skipped, executable comments (`/*!`, `/*M!`) are read as code.
 */
function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  const n = sql.length;
  let i = 0;
  while (i < n) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === "'" || c === '"') {
      const end = stringEnd(sql, i);
      tokens.push({ kind: 'literal', start: i, end });
      i = end;
    } else if ((c === 'x' || c === 'X' || c === 'b' || c === 'B') && next === "'") {
      const end = stringEnd(sql, i + 1);
      tokens.push({ kind: 'literal', start: i, end });
      i = end;
    } else if (c === '`') {
      const j = sql.indexOf('`', i + 1);
      const end = j < 0 ? n : j + 1;
      tokens.push({ kind: 'word', text: sql.slice(i + 1, end - 1), start: i, end });
      i = end;
    } else if (c === '#' || (c === '-' && next === '-' && (i + 2 >= n || /\s/.test(sql[i + 2]!)))) {
      while (i < n && sql[i] !== '\n') i++;
    } else if (c === '/' && next === '*') {
      if (sql[i + 2] === '!' || (sql[i + 2] === 'M' && sql[i + 3] === '!')) {
        // Executable comment: its text runs; skip the marker and its version number.
        i += sql[i + 2] === '!' ? 3 : 4;
        while (i < n && /[0-9]/.test(sql[i]!)) i++;
      } else {
        const j = sql.indexOf('*/', i + 2);
        i = j < 0 ? n : j + 2;
      }
    } else if (c === '*' && next === '/') {
      i += 2; // the end of an executable comment
    } else if (/[0-9]/.test(c)) {
      let j = i + 1;
      if (c === '0' && (next === 'x' || next === 'X')) j = i + 2;
      while (j < n && /[0-9A-Za-z_.]/.test(sql[j]!)) j++;
      tokens.push({ kind: 'literal', start: i, end: j });
      i = j;
    } else if (/[A-Za-z_$@\u0080-\uffff]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_$@\u0080-\uffff]/.test(sql[j]!)) j++;
      tokens.push({ kind: 'word', text: sql.slice(i, j), start: i, end: j });
      i = j;
    } else if (/\s/.test(c)) {
      i++;
    } else {
      const text = c === ':' && next === '=' ? ':=' : c;
      tokens.push({ kind: 'punct', text, start: i, end: i + text.length });
      i += text.length;
    }
  }
  return tokens;
}

/** The end (exclusive) of the quoted string starting at `i`; an unclosed string runs to the end. */
function stringEnd(sql: string, i: number): number {
  const quote = sql[i]!;
  let j = i + 1;
  while (j < sql.length) {
    if (sql[j] === '\\') j += 2;
    else if (sql[j] === quote) {
      if (sql[j + 1] === quote) j += 2;
      else return j + 1;
    } else j++;
  }
  return sql.length;
}
