/**
 * readwritesplit's statement classifier: SQL text in, the facts routing needs out. Weir has
 * no SQL parser, so this is MaxScale's fallback made exact for the cases that matter
 * (readwritesplit reference §2): a tokenizer that knows comments (`-- `, `#`, `/* *\/`),
 * executable comments (`/*! ... *\/`, `/*!50100 ... *\/`, `/*M! ... *\/`, whose text is
 * SQL), quoting ('', "", ``, backslash escapes) and `;` between statements, then rules on
 * the tokens: the first keywords, locking clauses, `INTO`, user and system variables,
 * function calls against an allow-list of read-only built-ins, and the tables read.
 *
 * It never throws and never guesses towards a replica: anything it does not recognise is a
 * write, which goes to the primary.
 */

/** MaxScale's type-mask bits (include/maxscale/parser.hh), the ones Weir routes by. */
export const Type = {
  READ: 1 << 0,
  WRITE: 1 << 1,
  MASTER_READ: 1 << 2,
  SESSION_WRITE: 1 << 3,
  USERVAR_WRITE: 1 << 4,
  USERVAR_READ: 1 << 5,
  SYSVAR_READ: 1 << 6,
  GSYSVAR_READ: 1 << 7,
  GSYSVAR_WRITE: 1 << 8,
  BEGIN_TRX: 1 << 9,
  ENABLE_AUTOCOMMIT: 1 << 10,
  DISABLE_AUTOCOMMIT: 1 << 11,
  ROLLBACK: 1 << 12,
  COMMIT: 1 << 13,
  PREPARE_NAMED_STMT: 1 << 14,
  PREPARE_STMT: 1 << 15,
  EXEC_STMT: 1 << 16,
  DEALLOC_PREPARE: 1 << 17,
  CREATE_TMP_TABLE: 1 << 18,
  READONLY: 1 << 19,
  READWRITE: 1 << 20,
  NEXT_TRX: 1 << 21,
} as const;

/** A type mask as MaxScale prints it: `QUERY_TYPE_READ|QUERY_TYPE_SYSVAR_READ`, `QUERY_TYPE_UNKNOWN` for none. */
export function typeMaskNames(type: number): string {
  const names: string[] = [];
  for (const [name, bit] of Object.entries(Type)) if (type & bit) names.push(`QUERY_TYPE_${name}`);
  return names.length ? names.join('|') : 'QUERY_TYPE_UNKNOWN';
}

export interface Classification {
  type: number;
  /** More than one statement in the text (`a; b`), or a compound statement. */
  multiStatement: boolean;
  /** FOUND_ROWS(), ROW_COUNT(), SHOW WARNINGS...: belongs where the previous statement ran. */
  relatesToPrevious: boolean;
  /** GET_LOCK() and friends: the session may not silently reconnect its primary. */
  usesLock: boolean;
  /** CALL of a stored procedure. */
  call: boolean;
  /** `START TRANSACTION READ ONLY` */
  readOnlyTrx: boolean;
  /** Isolation level named by a SET (upper case), if any: SERIALIZABLE pins the session to the primary. */
  isolation: string | null;
  /** Tables named after FROM/JOIN/UPDATE/INTO... (lower case, `db.t` when qualified). */
  tables: string[];
  /** CREATE TEMPORARY TABLE's table. */
  createdTemporary: string | null;
  /** DROP TABLE's tables. */
  dropped: string[];
  /** Text PREPARE/EXECUTE/DEALLOCATE: the statement name; PREPARE's SQL when given as a literal. */
  preparedName: string | null;
  preparedSql: string | null;
  /** KILL [CONNECTION|QUERY] <id>: handled by Weir, never routed. */
  kill: { id: number; query: boolean } | null;
}

// ---- tokens ----

const enum Kind {
  Word,
  String,
  Quoted,
  Number,
  Punct,
  UserVar,
  SysVar,
  Semicolon,
}

interface Token {
  kind: Kind;
  /** Words upper-cased; strings unquoted; variables without their @. */
  text: string;
}

const LIMIT = 1 << 20;

/** Letters, digits, `_`, `$` and anything beyond ASCII: what identifiers are made of. */
function identChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 36 || c >= 0x80;
}

function identStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 36 || c >= 0x80;
}

function allDigits(sql: string, from: number, to: number): boolean {
  for (let k = from; k < to; k++) {
    const c = sql.charCodeAt(k);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** The tokens of `sql`; `/*! *\/` contents are SQL, other comments are skipped. */
export function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  const n = Math.min(sql.length, LIMIT);
  // The statement upper-cased once, at its first lower-case word: words are sliced from it
  // (toUpperCase is a call into the runtime; one per statement, not one per word). null when
  // upper-casing changed the length (ß becomes SS): then indices differ and each word is
  // upper-cased on its own.
  let upper: string | null | undefined;
  let i = 0;
  while (i < n) {
    const c = sql.charCodeAt(i);
    // Words first, the commonest token (nothing below starts with a letter, `_`, `$` or non-ASCII).
    if (identStart(c)) {
      let j = i + 1;
      let lower = c >= 97 && c <= 122;
      let beyondAscii = c >= 0x80;
      for (; j < n; j++) {
        const ch = sql.charCodeAt(j);
        if (!identChar(ch)) break;
        if (ch >= 97 && ch <= 122) lower = true;
        else if (ch >= 0x80) beyondAscii = true;
      }
      let text: string;
      // Keywords usually come upper-case: nothing to do for them.
      if (beyondAscii) text = sql.slice(i, j).toUpperCase();
      else if (!lower) text = sql.slice(i, j);
      else {
        if (upper === undefined) {
          const all = sql.toUpperCase();
          upper = all.length === sql.length ? all : null;
        }
        text = upper !== null ? upper.slice(i, j) : sql.slice(i, j).toUpperCase();
      }
      out.push({ kind: Kind.Word, text });
      i = j;
      continue;
    }
    // whitespace
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 11) {
      i++;
      continue;
    }
    // comments: `-- ` (dashes then whitespace or the end), `#`, `/* */`; `/*!`, `/*M!` are SQL.
    if (c === 45 /* - */ && sql.charCodeAt(i + 1) === 45 && (i + 2 >= n || /\s/.test(sql[i + 2]!))) {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? n : end + 1;
      continue;
    }
    if (c === 35 /* # */) {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? n : end + 1;
      continue;
    }
    if (c === 47 /* / */ && sql.charCodeAt(i + 1) === 42 /* * */) {
      let j = i + 2;
      if (sql[j] === '!' || (sql[j] === 'M' && sql[j + 1] === '!')) {
        // Executable comment: skip the marker and a version number, keep the text as SQL.
        j += sql[j] === '!' ? 1 : 2;
        while (j < n && sql.charCodeAt(j) >= 48 && sql.charCodeAt(j) <= 57) j++;
        i = j;
        continue;
      }
      const end = sql.indexOf('*/', j);
      i = end < 0 ? n : end + 2;
      continue;
    }
    if (c === 42 /* * */ && sql.charCodeAt(i + 1) === 47 /* / */) {
      // The end of an executable comment.
      i += 2;
      continue;
    }
    if (c === 39 /* ' */ || c === 34 /* " */ || c === 96 /* ` */) {
      const quote = sql[i]!;
      let j = i + 1;
      let text = '';
      let from = j;
      // Copied in runs between escapes, not a character at a time.
      for (; j < n; j++) {
        const ch = sql.charCodeAt(j);
        if (ch === 92 /* \\ */ && c !== 96) {
          text += sql.slice(from, j) + (sql[j + 1] ?? '');
          j++;
          from = j + 1;
          continue;
        }
        if (ch === c) {
          if (sql.charCodeAt(j + 1) === c) {
            text += sql.slice(from, j + 1);
            j++;
            from = j + 1;
            continue;
          }
          break;
        }
      }
      text += sql.slice(from, Math.min(j, n));
      out.push({ kind: quote === '`' ? Kind.Quoted : Kind.String, text });
      i = j + 1;
      continue;
    }
    if (c === 64 /* @ */) {
      const sys = sql[i + 1] === '@';
      let j = i + (sys ? 2 : 1);
      if (!sys && (sql[j] === "'" || sql[j] === '"' || sql[j] === '`')) {
        // @'quoted name'
        const q = sql[j]!;
        const end = sql.indexOf(q, j + 1);
        const name = end < 0 ? sql.slice(j + 1, n) : sql.slice(j + 1, end);
        out.push({ kind: Kind.UserVar, text: name.toLowerCase() });
        i = end < 0 ? n : end + 1;
        continue;
      }
      const start = j;
      while (j < n && (identChar(sql.charCodeAt(j)) || sql.charCodeAt(j) === 46)) j++;
      out.push({ kind: sys ? Kind.SysVar : Kind.UserVar, text: sql.slice(start, j).toLowerCase() });
      i = j;
      continue;
    }
    if (c === 59 /* ; */) {
      out.push({ kind: Kind.Semicolon, text: ';' });
      i++;
      continue;
    }
    if ((c >= 48 && c <= 57) || (c === 46 && sql.charCodeAt(i + 1) >= 48 && sql.charCodeAt(i + 1) <= 57)) {
      let j = i + 1;
      while (j < n && (identChar(sql.charCodeAt(j)) || sql.charCodeAt(j) === 46)) j++;
      const text = sql.slice(i, j);
      // 1abc is an identifier in MariaDB; keep it a word so it is never read as a number.
      // Plain digits (the usual literal) need neither the patterns nor upper-casing.
      const digits = allDigits(sql, i, j);
      out.push({
        kind: digits || /^[0-9.]+(e[0-9]+)?$/i.test(text) || /^0x[0-9a-f]+$/i.test(text) ? Kind.Number : Kind.Word,
        text: digits ? text : text.toUpperCase(),
      });
      i = j;
      continue;
    }
    if (c === 58 /* : */ && sql[i + 1] === '=') {
      out.push({ kind: Kind.Punct, text: ':=' });
      i += 2;
      continue;
    }
    out.push({ kind: Kind.Punct, text: sql[i]! });
    i++;
  }
  return out;
}

// ---- rules ----

/**
 * Built-in functions that only read (MaxScale's builtin_functions.cc read-only list, the
 * common part). A call of anything else (a stored function, a UDF, NEXTVAL...) is a write.
 */
const READ_ONLY_FUNCTIONS = new Set(
  `
ABS ACOS ADDDATE ADDTIME AES_DECRYPT AES_ENCRYPT ASCII ASIN ATAN ATAN2 AVG BENCHMARK BIN BINARY BIT_AND BIT_COUNT BIT_LENGTH BIT_OR BIT_XOR
CAST CEIL CEILING CHAR CHARACTER_LENGTH CHARSET CHAR_LENGTH CHR COALESCE COERCIBILITY COLLATION COMPRESS CONCAT CONCAT_WS CONNECTION_ID CONV
CONVERT CONVERT_TZ COS COT COUNT CRC32 CURDATE CURRENT_DATE CURRENT_ROLE CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER CURTIME DATABASE DATE
DATEDIFF DATE_ADD DATE_FORMAT DATE_SUB DAY DAYNAME DAYOFMONTH DAYOFWEEK DAYOFYEAR DECODE DEFAULT DEGREES DES_DECRYPT DES_ENCRYPT ELT ENCODE ENCRYPT
EXP EXPORT_SET EXTRACT FIELD FIND_IN_SET FLOOR FORMAT FOUND_ROWS FROM_BASE64 FROM_DAYS FROM_UNIXTIME GREATEST GROUP_CONCAT HEX HOUR IF IFNULL
INET6_ATON INET6_NTOA INET_ATON INET_NTOA INSERT INSTR INTERVAL ISNULL IS_IPV4 IS_IPV6 JSON_ARRAY JSON_ARRAYAGG JSON_ARRAY_APPEND JSON_ARRAY_INSERT
JSON_COMPACT JSON_CONTAINS JSON_CONTAINS_PATH JSON_DEPTH JSON_DETAILED JSON_EXISTS JSON_EXTRACT JSON_INSERT JSON_KEYS JSON_LENGTH JSON_LOOSE
JSON_MERGE JSON_MERGE_PATCH JSON_MERGE_PRESERVE JSON_OBJECT JSON_OBJECTAGG JSON_QUERY JSON_QUOTE JSON_REMOVE JSON_REPLACE JSON_SEARCH JSON_SET
JSON_TABLE JSON_TYPE JSON_UNQUOTE JSON_VALID JSON_VALUE LAG LAST_DAY LCASE LEAD LEAST LEFT LENGTH LN LOAD_FILE LOCALTIME LOCALTIMESTAMP LOCATE
LOG LOG10 LOG2 LOWER LPAD LTRIM MAKEDATE MAKETIME MAKE_SET MASTER_GTID_WAIT MASTER_POS_WAIT MAX MD5 MICROSECOND MID MIN MINUTE MOD MONTH
MONTHNAME NAME_CONST NOW NULLIF OCT OCTET_LENGTH ORD PASSWORD PERIOD_ADD PERIOD_DIFF PI POSITION POW POWER QUARTER QUOTE RADIANS RAND RANK
DENSE_RANK ROW_NUMBER NTILE PERCENT_RANK CUME_DIST FIRST_VALUE LAST_VALUE NTH_VALUE REGEXP_INSTR REGEXP_REPLACE REGEXP_SUBSTR REPEAT REPLACE
REVERSE RIGHT ROUND ROW_COUNT RPAD RTRIM SCHEMA SECOND SEC_TO_TIME SESSION_USER SHA SHA1 SHA2 SIGN SIN SLEEP SOUNDEX SPACE SQRT STD STDDEV
STDDEV_POP STDDEV_SAMP STRCMP STR_TO_DATE SUBDATE SUBSTR SUBSTRING SUBSTRING_INDEX SUBTIME SUM SYSDATE SYSTEM_USER TAN TIME TIMEDIFF TIMESTAMP
TIMESTAMPADD TIMESTAMPDIFF TIME_FORMAT TIME_TO_SEC TO_BASE64 TO_DAYS TO_SECONDS TRIM TRUNCATE UCASE UNCOMPRESS UNCOMPRESSED_LENGTH UNHEX
UNIX_TIMESTAMP UPPER USER UTC_DATE UTC_TIME UTC_TIMESTAMP UUID UUID_SHORT VALUES VARIANCE VAR_POP VAR_SAMP VERSION WEEK WEEKDAY WEEKOFYEAR
YEAR YEARWEEK CHARACTER DATE_ADD JSON_OVERLAPS JSON_NORMALIZE SFORMAT NATURAL_SORT_KEY SYS_GUID BIT_LENGTH CASE WEIGHT_STRING
DECIMAL DEC NUMERIC SIGNED UNSIGNED INTEGER INT DOUBLE FLOAT REAL VARCHAR NCHAR DATETIME JSON ROW
`
    .split(/\s+/)
    .filter(Boolean),
);

/** Functions that must see the primary's state. */
const MASTER_READ_FUNCTIONS = new Set(['LAST_INSERT_ID']);
/** Functions whose result is the previous statement's: they go where it went. */
const PREVIOUS_FUNCTIONS = new Set(['FOUND_ROWS', 'ROW_COUNT']);
/** User-level locks: the primary, and the session can no longer silently reconnect it. */
const LOCK_FUNCTIONS = new Set(['GET_LOCK', 'RELEASE_LOCK', 'RELEASE_ALL_LOCKS', 'IS_USED_LOCK', 'IS_FREE_LOCK']);
/** System variables that hold the primary's state. */
const MASTER_SYSVARS = new Set([
  'last_insert_id',
  'identity',
  'last_gtid',
  'session.last_insert_id',
  'session.identity',
  'session.last_gtid',
]);
const PREVIOUS_SYSVARS = new Set(['warning_count', 'error_count', 'session.warning_count', 'session.error_count']);

/** Words that may precede `(` without being a function call. */
const NOT_FUNCTIONS = new Set(
  `
AND OR NOT XOR IN EXISTS AS ON USING FROM JOIN SELECT WHERE WHEN THEN ELSE OVER PARTITION ANY ALL SOME INTO UNION INTERSECT EXCEPT
DISTINCT BY HAVING LIMIT ROW IS LIKE BETWEEN REGEXP RLIKE WITH RECURSIVE TABLE LATERAL OFFSET FETCH OF ORDER GROUP WINDOW ROWS RANGE
KEY INDEX PRIMARY UNIQUE FOREIGN REFERENCES CHECK CONSTRAINT RETURNING DIV ESCAPE COLLATE BINARY AGAINST MATCH ELSEIF IF SET
`
    .split(/\s+/)
    .filter(Boolean),
);

function emptyResult(type: number): Classification {
  return {
    type,
    multiStatement: false,
    relatesToPrevious: false,
    usesLock: false,
    call: false,
    readOnlyTrx: false,
    isolation: null,
    tables: [],
    createdTemporary: null,
    dropped: [],
    preparedName: null,
    preparedSql: null,
    kill: null,
  };
}

/** Classifies one COM_QUERY's text. Never throws: on any surprise the answer is a write. */
export function classify(sql: string): Classification {
  try {
    if (sql.length > LIMIT) return { ...emptyResult(Type.WRITE), multiStatement: sql.includes(';') };
    return classifyTokens(tokenize(sql));
  } catch {
    return emptyResult(Type.WRITE);
  }
}

function word(t: Token | undefined, ...words: string[]): boolean {
  return t !== undefined && t.kind === Kind.Word && words.includes(t.text);
}

function isName(t: Token | undefined): boolean {
  return t !== undefined && (t.kind === Kind.Word || t.kind === Kind.Quoted);
}

/** Reads `name` or `db.name` at `i`; returns it lower-cased and the index after it. */
function tableName(tokens: Token[], i: number): { name: string; next: number } | null {
  const a = tokens[i];
  if (!isName(a)) return null;
  if (tokens[i + 1]?.kind === Kind.Punct && tokens[i + 1]!.text === '.' && isName(tokens[i + 2])) {
    return { name: `${a!.text}.${tokens[i + 2]!.text}`.toLowerCase(), next: i + 3 };
  }
  return { name: a!.text.toLowerCase(), next: i + 1 };
}

function classifyTokens(all: Token[]): Classification {
  // Trailing semicolons end the statement; anything after a semicolon is another statement.
  let end = all.length;
  while (end > 0 && all[end - 1]!.kind === Kind.Semicolon) end--;
  let firstSemi = -1;
  for (let i = 0; i < end; i++) {
    if (all[i]!.kind === Kind.Semicolon) {
      firstSemi = i;
      break;
    }
  }
  const multi = firstSemi >= 0;
  const tokens = multi ? all.slice(0, firstSemi) : end === all.length ? all : all.slice(0, end);
  if (tokens.length === 0) return emptyResult(multi ? Type.WRITE : Type.READ);
  let r = classifyOne(tokens);
  if (multi) {
    // MaxScale: a multi-statement is a write (the primary), whatever its parts are.
    r = { ...r, type: (r.type | Type.WRITE) & ~(Type.SESSION_WRITE | Type.USERVAR_WRITE), multiStatement: true };
    // Temporary tables and drops in later statements are still worth knowing.
    for (const part of splitStatements(all.slice(firstSemi + 1, end))) {
      const p = classifyOne(part);
      if (p.createdTemporary && !r.createdTemporary) r.createdTemporary = p.createdTemporary;
      r.dropped.push(...p.dropped);
      if (p.usesLock) r.usesLock = true;
    }
  }
  return r;
}

function splitStatements(tokens: Token[]): Token[][] {
  const out: Token[][] = [];
  let cur: Token[] = [];
  for (const t of tokens) {
    if (t.kind === Kind.Semicolon) {
      if (cur.length) out.push(cur);
      cur = [];
    } else cur.push(t);
  }
  if (cur.length) out.push(cur);
  return out;
}

function classifyOne(tokens: Token[]): Classification {
  let start = 0;
  // `(SELECT ...) UNION (...)`
  while (tokens[start]?.kind === Kind.Punct && tokens[start]!.text === '(') start++;
  const first = tokens[start];
  if (!first || first.kind !== Kind.Word) return emptyResult(Type.WRITE);
  const second = tokens[start + 1];
  switch (first.text) {
    case 'SELECT':
    case 'WITH':
    case 'VALUES':
    case 'TABLE':
      return classifySelect(tokens);
    case 'SHOW':
      return classifyShow(tokens, start + 1);
    case 'DESC':
    case 'DESCRIBE':
    case 'EXPLAIN':
    case 'HELP': {
      // EXPLAIN ANALYZE / ANALYZE run the statement.
      if (word(second, 'ANALYZE')) return emptyResult(Type.WRITE);
      return emptyResult(Type.READ);
    }
    case 'SET':
      return classifySet(tokens, start + 1);
    case 'USE':
      return emptyResult(Type.SESSION_WRITE);
    case 'BEGIN':
      if (word(second, 'NOT')) return { ...emptyResult(Type.WRITE), multiStatement: true }; // BEGIN NOT ATOMIC ... END
      return emptyResult(Type.BEGIN_TRX);
    case 'START':
      if (word(second, 'TRANSACTION')) return classifyStartTransaction(tokens, start + 2);
      return emptyResult(Type.WRITE); // START SLAVE
    case 'COMMIT':
      return emptyResult(Type.COMMIT);
    case 'ROLLBACK':
      // ROLLBACK [WORK] TO [SAVEPOINT] x stays inside the transaction.
      if (tokens.slice(start + 1).some((t) => word(t, 'TO'))) return emptyResult(Type.WRITE);
      return emptyResult(Type.ROLLBACK);
    case 'XA':
      if (word(second, 'START', 'BEGIN')) return emptyResult(Type.BEGIN_TRX);
      if (word(second, 'END')) return emptyResult(Type.COMMIT);
      return emptyResult(Type.WRITE);
    case 'PREPARE': {
      const r = emptyResult(Type.PREPARE_NAMED_STMT);
      if (isName(second)) r.preparedName = second!.text.toLowerCase();
      const from = tokens[start + 2];
      const text = tokens[start + 3];
      if (word(from, 'FROM') && text?.kind === Kind.String) r.preparedSql = text.text;
      return r;
    }
    case 'EXECUTE': {
      const r = emptyResult(Type.EXEC_STMT);
      if (word(second, 'IMMEDIATE')) return emptyResult(Type.WRITE);
      if (isName(second)) r.preparedName = second!.text.toLowerCase();
      return r;
    }
    case 'DEALLOCATE':
      if (word(second, 'PREPARE') && isName(tokens[start + 2]))
        return { ...emptyResult(Type.DEALLOC_PREPARE), preparedName: tokens[start + 2]!.text.toLowerCase() };
      return emptyResult(Type.WRITE);
    case 'DROP': {
      if (word(second, 'PREPARE') && isName(tokens[start + 2]))
        return { ...emptyResult(Type.DEALLOC_PREPARE), preparedName: tokens[start + 2]!.text.toLowerCase() };
      const r = emptyResult(Type.WRITE);
      let i = start + 1;
      if (word(tokens[i], 'TEMPORARY')) i++;
      if (word(tokens[i], 'TABLE', 'TABLES')) {
        i++;
        if (word(tokens[i], 'IF') && word(tokens[i + 1], 'EXISTS')) i += 2;
        for (;;) {
          const t = tableName(tokens, i);
          if (!t) break;
          r.dropped.push(t.name);
          i = t.next;
          if (tokens[i]?.kind === Kind.Punct && tokens[i]!.text === ',') i++;
          else break;
        }
      }
      return r;
    }
    case 'CREATE': {
      const r = emptyResult(Type.WRITE);
      let i = start + 1;
      if (word(tokens[i], 'OR') && word(tokens[i + 1], 'REPLACE')) i += 2;
      if (word(tokens[i], 'TEMPORARY') && word(tokens[i + 1], 'TABLE')) {
        i += 2;
        if (word(tokens[i], 'IF') && word(tokens[i + 1], 'NOT') && word(tokens[i + 2], 'EXISTS')) i += 3;
        const t = tableName(tokens, i);
        if (t) {
          r.createdTemporary = t.name;
          r.type |= Type.CREATE_TMP_TABLE;
        }
      }
      return r;
    }
    case 'CALL':
      return { ...emptyResult(Type.WRITE), call: true };
    case 'KILL':
      return classifyKill(tokens, start + 1);
    default:
      // INSERT, UPDATE, DELETE, REPLACE, LOAD, ALTER, GRANT, LOCK, DO, HANDLER... and anything unknown.
      return writeWithVariables(tokens);
  }
}

/** A write that assigns user variables (`INSERT ... VALUES (@a := 5)`) runs on the primary only. */
function writeWithVariables(tokens: Token[]): Classification {
  const r = emptyResult(Type.WRITE);
  scanExpressions(tokens, 0, r);
  r.type =
    (r.type | Type.WRITE) & ~(Type.READ | Type.USERVAR_READ | Type.SYSVAR_READ | Type.GSYSVAR_READ | Type.MASTER_READ);
  return r;
}

/** INSERT, UPDATE, DELETE, REPLACE: compared, not hashed (asked of every word of every SELECT). */
function isDataChange(w: string): boolean {
  return w.length === 6 ? w === 'INSERT' || w === 'UPDATE' || w === 'DELETE' : w.length === 7 && w === 'REPLACE';
}

function classifySelect(tokens: Token[]): Classification {
  const r = emptyResult(Type.READ);
  scanExpressions(tokens, 0, r);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind !== Kind.Word) continue;
    if (t.text === 'FOR' && word(tokens[i + 1], 'UPDATE', 'SHARE')) r.type |= Type.WRITE;
    else if (t.text === 'LOCK' && word(tokens[i + 1], 'IN') && word(tokens[i + 2], 'SHARE')) r.type |= Type.WRITE;
    else if (t.text === 'INTO') {
      const next = tokens[i + 1];
      if (word(next, 'OUTFILE', 'DUMPFILE')) r.type |= Type.WRITE;
      else if (next?.kind === Kind.UserVar) r.type |= Type.USERVAR_WRITE;
      else r.type |= Type.WRITE; // INSERT ... SELECT written backwards, or SELECT INTO a local: be safe
    } else if (isDataChange(t.text) && !(tokens[i + 1]?.kind === Kind.Punct && tokens[i + 1]!.text === '(')) {
      // WITH ... UPDATE/DELETE, or a data-changing statement inside a SELECT.
      r.type |= Type.WRITE;
    } else if (t.text === 'NEXT' && word(tokens[i + 1], 'VALUE') && word(tokens[i + 2], 'FOR')) r.type |= Type.WRITE;
    else if (t.text === 'PREVIOUS' && word(tokens[i + 1], 'VALUE') && word(tokens[i + 2], 'FOR')) r.type |= Type.WRITE;
    else if ((t.text === 'FROM' || t.text === 'JOIN') && !(tokens[i + 1]?.kind === Kind.Punct)) {
      let j = i + 1;
      for (;;) {
        const name = tableName(tokens, j);
        if (!name) break;
        r.tables.push(name.name);
        j = name.next;
        // FROM a [AS] x, b [AS] y
        if (word(tokens[j], 'AS')) j++;
        if (tokens[j]?.kind === Kind.Word && !isClauseWord(tokens[j]!.text)) j++;
        if (tokens[j]?.kind === Kind.Punct && tokens[j]!.text === ',') j++;
        else break;
      }
    }
  }
  // Oracle mode s.nextval / s.currval
  for (let i = 2; i < tokens.length; i++) {
    if (tokens[i - 1]!.text === '.' && word(tokens[i], 'NEXTVAL', 'CURRVAL', 'LASTVAL')) r.type |= Type.WRITE;
  }
  return r;
}

const CLAUSE_WORDS = new Set([
  'WHERE',
  'GROUP',
  'ORDER',
  'LIMIT',
  'HAVING',
  'JOIN',
  'LEFT',
  'RIGHT',
  'INNER',
  'OUTER',
  'CROSS',
  'NATURAL',
  'STRAIGHT_JOIN',
  'UNION',
  'FOR',
  'LOCK',
  'ON',
  'USING',
  'INTO',
  'WINDOW',
  'PROCEDURE',
  'INTERSECT',
  'EXCEPT',
  'FULL',
  'USE',
  'FORCE',
  'IGNORE',
  'PARTITION',
  'OFFSET',
  'FETCH',
  'RETURNING',
]);

function isClauseWord(w: string): boolean {
  return CLAUSE_WORDS.has(w);
}

/** Function calls, user and system variables, `:=` assignments anywhere in the statement. */
function scanExpressions(tokens: Token[], from: number, r: Classification): void {
  for (let i = from; i < tokens.length; i++) {
    const t = tokens[i]!;
    const next = tokens[i + 1];
    if (t.kind === Kind.UserVar) {
      if (next?.kind === Kind.Punct && next.text === ':=') r.type |= Type.USERVAR_WRITE;
      else r.type |= Type.USERVAR_READ;
      continue;
    }
    if (t.kind === Kind.SysVar) {
      if (MASTER_SYSVARS.has(t.text)) r.type |= Type.MASTER_READ;
      else if (PREVIOUS_SYSVARS.has(t.text)) r.relatesToPrevious = true;
      else if (t.text.startsWith('global.')) r.type |= Type.GSYSVAR_READ;
      else r.type |= Type.SYSVAR_READ;
      continue;
    }
    if ((t.kind === Kind.Word || t.kind === Kind.Quoted) && next?.kind === Kind.Punct && next.text === '(') {
      const previous = tokens[i - 1];
      // db.func( is a stored function; `.` before it means qualified.
      if (previous?.kind === Kind.Punct && previous.text === '.') {
        r.type |= Type.WRITE;
        continue;
      }
      if (t.kind === Kind.Quoted) {
        r.type |= Type.WRITE;
        continue;
      }
      const name = t.text;
      if (NOT_FUNCTIONS.has(name) && name !== 'IF') continue;
      if (MASTER_READ_FUNCTIONS.has(name)) r.type |= Type.MASTER_READ;
      else if (PREVIOUS_FUNCTIONS.has(name)) r.relatesToPrevious = true;
      else if (LOCK_FUNCTIONS.has(name)) {
        r.type |= Type.WRITE;
        r.usesLock = true;
      } else if (!READ_ONLY_FUNCTIONS.has(name)) r.type |= Type.WRITE;
    }
  }
}

function classifyShow(tokens: Token[], i: number): Classification {
  let j = i;
  while (word(tokens[j], 'FULL', 'GLOBAL', 'SESSION', 'EXTENDED')) j++;
  const what = tokens[j];
  if (word(what, 'MASTER', 'BINLOG', 'BINARY') || word(what, 'INDEX', 'INDEXES', 'KEYS'))
    return emptyResult(Type.WRITE);
  if (word(what, 'WARNINGS', 'ERRORS') || (word(what, 'COUNT') && tokens.some((t) => word(t, 'WARNINGS', 'ERRORS')))) {
    return { ...emptyResult(Type.READ), relatesToPrevious: true };
  }
  if (word(what, 'VARIABLES', 'STATUS')) return emptyResult(Type.READ | Type.SYSVAR_READ);
  return emptyResult(Type.READ);
}

function classifyStartTransaction(tokens: Token[], i: number): Classification {
  const r = emptyResult(Type.BEGIN_TRX);
  for (let j = i; j < tokens.length; j++) {
    if (word(tokens[j], 'READ') && word(tokens[j + 1], 'ONLY')) {
      r.readOnlyTrx = true;
      r.type |= Type.READ | Type.READONLY;
    }
    if (word(tokens[j], 'READ') && word(tokens[j + 1], 'WRITE')) r.type |= Type.READWRITE;
  }
  return r;
}

function classifyKill(tokens: Token[], i: number): Classification {
  let j = i;
  if (word(tokens[j], 'HARD', 'SOFT')) j++;
  let query = false;
  if (word(tokens[j], 'CONNECTION')) j++;
  else if (word(tokens[j], 'QUERY')) {
    query = true;
    j++;
    if (word(tokens[j], 'ID')) return emptyResult(Type.WRITE); // KILL QUERY ID <server query id>: the server's
  }
  const id = tokens[j];
  if (id?.kind === Kind.Number && tokens.length === j + 1 && /^\d+$/.test(id.text))
    return { ...emptyResult(Type.WRITE), kill: { id: Number(id.text), query } };
  return emptyResult(Type.WRITE);
}

const AUTOCOMMIT_NAMES = new Set(['AUTOCOMMIT', 'SESSION.AUTOCOMMIT', 'LOCAL.AUTOCOMMIT']);

function classifySet(tokens: Token[], i: number): Classification {
  const first = tokens[i];
  // SET STATEMENT var=value FOR <statement>: the statement decides.
  if (word(first, 'STATEMENT')) {
    const at = tokens.findIndex((t, j) => j > i && word(t, 'FOR'));
    if (at < 0) return emptyResult(Type.WRITE);
    const inner = classifyOne(tokens.slice(at + 1));
    // Session commands inside SET STATEMENT would change only that statement: route it as a write if unsure.
    return inner.type & (Type.SESSION_WRITE | Type.USERVAR_WRITE | Type.BEGIN_TRX | Type.COMMIT | Type.ROLLBACK)
      ? emptyResult(Type.WRITE)
      : inner;
  }
  if (word(first, 'PASSWORD') || word(first, 'ROLE') || word(first, 'DEFAULT')) return emptyResult(Type.WRITE);
  if (word(first, 'GLOBAL') || (first?.kind === Kind.SysVar && first.text.startsWith('global.')))
    return emptyResult(Type.GSYSVAR_WRITE);
  // SET TRANSACTION ... (next transaction only) vs SET SESSION TRANSACTION ... (all later ones).
  if (word(first, 'TRANSACTION') || (word(first, 'SESSION', 'LOCAL') && word(tokens[i + 1], 'TRANSACTION'))) {
    const next = word(first, 'TRANSACTION');
    const r = emptyResult(next ? Type.NEXT_TRX : Type.SESSION_WRITE);
    const rest = tokens.slice(i);
    for (let j = 0; j < rest.length; j++) {
      if (word(rest[j], 'READ') && word(rest[j + 1], 'ONLY')) r.type |= Type.READONLY;
      if (word(rest[j], 'READ') && word(rest[j + 1], 'WRITE')) r.type |= Type.READWRITE;
      if (word(rest[j], 'LEVEL')) {
        const level = rest
          .slice(j + 1)
          .map((t) => t.text)
          .join(' ');
        r.isolation = level.startsWith('SERIALIZABLE') ? 'SERIALIZABLE' : level.split(' ').slice(0, 2).join(' ');
      }
    }
    return r;
  }
  // A list of assignments: SET a=1, @b=2, autocommit=0, NAMES utf8 ...
  const r = emptyResult(Type.SESSION_WRITE);
  let j = i;
  while (j < tokens.length) {
    let t = tokens[j]!;
    if (word(t, 'SESSION', 'LOCAL')) t = tokens[++j]!;
    if (!t) break;
    if (t.kind === Kind.UserVar) r.type |= Type.USERVAR_WRITE;
    if (word(t, 'GLOBAL') || (t.kind === Kind.SysVar && t.text.startsWith('global.'))) r.type |= Type.GSYSVAR_WRITE;
    const name = t.kind === Kind.Word ? t.text : t.kind === Kind.SysVar ? t.text.toUpperCase() : '';
    // The value: tokens up to the next top-level comma.
    let depth = 0;
    let k = j + 1;
    const value: Token[] = [];
    for (; k < tokens.length; k++) {
      const v = tokens[k]!;
      if (v.kind === Kind.Punct && v.text === '(') depth++;
      if (v.kind === Kind.Punct && v.text === ')') depth--;
      if (depth === 0 && v.kind === Kind.Punct && v.text === ',') break;
      value.push(v);
    }
    const valueTokens =
      value[0]?.kind === Kind.Punct && (value[0].text === '=' || value[0].text === ':=') ? value.slice(1) : value;
    if (AUTOCOMMIT_NAMES.has(name) && valueTokens.length === 1) {
      const v = valueTokens[0]!.text.toUpperCase();
      if (v === '0' || v === 'FALSE' || v === 'OFF') r.type |= Type.DISABLE_AUTOCOMMIT;
      else if (v === '1' || v === 'TRUE' || v === 'ON') r.type |= Type.ENABLE_AUTOCOMMIT;
    }
    if (/^(SESSION\.)?(TX_ISOLATION|TRANSACTION_ISOLATION)$/.test(name) && valueTokens.length === 1) {
      r.isolation = valueTokens[0]!.text.toUpperCase().replace(/-/g, ' ');
    }
    if (/^(SESSION\.)?(TX_READ_ONLY|TRANSACTION_READ_ONLY)$/.test(name) && valueTokens.length === 1) {
      const v = valueTokens[0]!.text.toUpperCase();
      r.type |= v === '1' || v === 'ON' || v === 'TRUE' ? Type.READONLY : Type.READWRITE;
    }
    // A value that runs a function that writes (SET @a = my_func()) is still a session command
    // on every server: MaxScale routes it to all. Reads of the primary's state go to all too.
    j = k + 1;
  }
  return r;
}
