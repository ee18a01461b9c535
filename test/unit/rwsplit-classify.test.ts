/**
 * readwritesplit's statement classifier on a table of statements (readwritesplit reference
 * §2.3, §2.9): what MaxScale routes where, including comments, quoting, executable comments
 * and multi-statements. Expected targets: `slave` (an autocommit read), `master`, `all` (a
 * session command), `last` (where the previous statement ran). Plus a fuzz run: the
 * classifier never throws.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { classify, Type, type Classification } from '../../src/proxy/routing/readwritesplit/classify.ts';
import {
  canonicalSelect,
  classifierCacheLimit,
  classifierCacheStats,
  classifierCacheTop,
  classifierCacheUsage,
  entryCost,
  setClassifierCacheLimit,
  classifyAndRemember,
  classifyStatement,
  lookupClassification,
} from '../../src/proxy/routing/readwritesplit/classifier-cache.ts';

type Target = 'slave' | 'master' | 'all' | 'last';

/** The target of an autocommit statement outside a transaction, as the router derives it (§2.2). */
function target(c: Classification): Target {
  const t = c.type;
  if (t & (Type.PREPARE_NAMED_STMT | Type.DEALLOC_PREPARE)) return 'all';
  if (t & Type.NEXT_TRX) return 'master';
  if (
    !(t & Type.WRITE) &&
    t &
      (Type.SESSION_WRITE | Type.USERVAR_WRITE | Type.GSYSVAR_WRITE | Type.ENABLE_AUTOCOMMIT | Type.DISABLE_AUTOCOMMIT)
  )
    return 'all';
  const readOnly =
    !(t & (Type.MASTER_READ | Type.WRITE)) &&
    (t & (Type.READ | Type.USERVAR_READ | Type.SYSVAR_READ | Type.GSYSVAR_READ)) !== 0;
  if (readOnly && !(t & Type.BEGIN_TRX)) return c.relatesToPrevious ? 'last' : 'slave';
  return 'master';
}

const TABLE: Array<[string, Target]> = [
  // plain reads
  ['SELECT 1', 'slave'],
  ['select 1', 'slave'],
  ['SELECT * FROM t', 'slave'],
  ['SELECT a, b FROM t WHERE id = 1', 'slave'],
  ['SELECT id FROM t1 JOIN t2 ON t1.id = t2.id', 'slave'],
  ['SELECT COUNT(*) FROM t', 'slave'],
  ['SELECT NOW(), RAND(), UUID(), CONNECTION_ID()', 'slave'],
  ['SELECT SLEEP(1)', 'slave'],
  ['SELECT CONCAT(a, b), UPPER(c), SUBSTRING(d, 1, 2) FROM t', 'slave'],
  ['SELECT CAST(a AS DECIMAL(10,2)) FROM t', 'slave'],
  ['SELECT CAST(a AS CHAR(10)), CONVERT(b, SIGNED) FROM t', 'slave'],
  ['SELECT IF(a > 1, 1, 0), IFNULL(b, 2), COALESCE(c, 3) FROM t', 'slave'],
  ['SELECT JSON_EXTRACT(doc, "$.a") FROM t', 'slave'],
  ['SELECT a FROM t WHERE id IN (1, 2, 3)', 'slave'],
  ['SELECT a FROM t WHERE EXISTS (SELECT 1 FROM u)', 'slave'],
  ['SELECT a FROM t WHERE id IN (SELECT id FROM u)', 'slave'],
  ['(SELECT a FROM t) UNION (SELECT b FROM u)', 'slave'],
  ['SELECT a FROM t UNION ALL SELECT b FROM u', 'slave'],
  ['WITH x AS (SELECT 1 AS a) SELECT a FROM x', 'slave'],
  ['SELECT ROW_NUMBER() OVER (PARTITION BY a ORDER BY b) FROM t', 'slave'],
  ['SELECT * FROM t LIMIT 10 OFFSET 5', 'slave'],
  ['SELECT DISTINCT a FROM t GROUP BY a HAVING COUNT(*) > 1', 'slave'],
  ['SELECT @@version', 'slave'],
  ['SELECT @@server_id', 'slave'],
  ['SELECT @@global.max_connections', 'slave'],
  ['SELECT @a', 'slave'],
  ['SELECT @a, @b FROM t', 'slave'],
  ['SELECT 1 FROM DUAL', 'slave'],
  ['SELECT DATABASE(), USER(), VERSION()', 'slave'],
  ['SELECT MASTER_GTID_WAIT("0-1-1", 1)', 'slave'],
  ['SELECT ROW_COUNT()', 'last'],
  ['SELECT FOUND_ROWS()', 'last'],
  ['SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 1', 'slave'],
  ['SELECT @@warning_count', 'last'],
  ['SHOW WARNINGS', 'last'],
  ['SHOW ERRORS', 'last'],
  ['SHOW COUNT(*) WARNINGS', 'last'],
  ['SHOW TABLES', 'slave'],
  ['SHOW DATABASES', 'slave'],
  ['SHOW FULL TABLES', 'slave'],
  ['SHOW CREATE TABLE t', 'slave'],
  ['SHOW COLUMNS FROM t', 'slave'],
  ['SHOW TABLE STATUS', 'slave'],
  ['SHOW VARIABLES LIKE "a%"', 'slave'],
  ['SHOW GLOBAL STATUS', 'slave'],
  ['SHOW SLAVE STATUS', 'slave'],
  ['SHOW PROCESSLIST', 'slave'],
  ['SHOW MASTER STATUS', 'master'],
  ['SHOW BINLOG EVENTS', 'master'],
  ['SHOW BINARY LOGS', 'master'],
  ['SHOW INDEX FROM t', 'master'],
  ['SHOW KEYS FROM t', 'master'],
  ['DESC t', 'slave'],
  ['DESCRIBE t', 'slave'],
  ['EXPLAIN SELECT * FROM t', 'slave'],
  ['EXPLAIN UPDATE t SET a = 1', 'slave'],
  ['HELP "SELECT"', 'slave'],
  // reads that must see the primary
  ['SELECT LAST_INSERT_ID()', 'master'],
  ['SELECT last_insert_id(), id FROM t', 'master'],
  ['SELECT @@last_insert_id', 'master'],
  ['SELECT @@identity', 'master'],
  ['SELECT @@last_gtid', 'master'],
  ['SELECT @@session.last_insert_id', 'master'],
  // locking reads and writes hidden in SELECT
  ['SELECT * FROM t FOR UPDATE', 'master'],
  ['SELECT * FROM t WHERE id = 1 FOR UPDATE NOWAIT', 'master'],
  ['SELECT * FROM t FOR SHARE', 'master'],
  ['SELECT * FROM t LOCK IN SHARE MODE', 'master'],
  ['SELECT * FROM t INTO OUTFILE "/tmp/x"', 'master'],
  ['SELECT * FROM t INTO DUMPFILE "/tmp/x"', 'master'],
  ['SELECT GET_LOCK("a", 1)', 'master'],
  ['SELECT RELEASE_LOCK("a")', 'master'],
  ['SELECT IS_FREE_LOCK("a")', 'master'],
  ['SELECT IS_USED_LOCK("a")', 'master'],
  ['SELECT RELEASE_ALL_LOCKS()', 'master'],
  ['SELECT NEXTVAL(s)', 'master'],
  ['SELECT LASTVAL(s)', 'master'],
  ['SELECT SETVAL(s, 10)', 'master'],
  ['SELECT NEXT VALUE FOR s', 'master'],
  ['SELECT PREVIOUS VALUE FOR s', 'master'],
  ['SELECT s.nextval', 'master'],
  ['SELECT my_func(1)', 'master'],
  ['SELECT db.my_func(1)', 'master'],
  ['SELECT `my func`(1)', 'master'],
  ['SELECT a FROM t WHERE b = my_udf(c)', 'master'],
  // user variables (use_sql_variables_in=all)
  ['SELECT @a := 1', 'all'],
  ['SELECT @a := @a + 1 FROM t', 'all'],
  ['SELECT 1 INTO @v', 'all'],
  ['SELECT a INTO @x FROM t LIMIT 1', 'all'],
  ['SET @a = 1', 'all'],
  ['SET @a := 1', 'all'],
  ['SET @a = (SELECT COUNT(*) FROM t)', 'all'],
  ["SET @'quoted name' = 1", 'all'],
  ['INSERT INTO t VALUES (@b := 5)', 'master'],
  // session commands
  ['SET NAMES utf8mb4', 'all'],
  ['SET NAMES utf8mb4 COLLATE utf8mb4_general_ci', 'all'],
  ['SET CHARACTER SET utf8', 'all'],
  ['SET sql_mode = "ANSI"', 'all'],
  ['SET SESSION sql_mode = ""', 'all'],
  ['SET @@session.time_zone = "+00:00"', 'all'],
  ['SET time_zone = "+00:00"', 'all'],
  ['SET autocommit = 0', 'all'],
  ['SET autocommit=1', 'all'],
  ['set AUTOCOMMIT = OFF', 'all'],
  ['SET @@autocommit = 0', 'all'],
  ['SET SESSION TRANSACTION READ ONLY', 'all'],
  ['SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED', 'all'],
  ['SET GLOBAL max_connections = 100', 'all'],
  ['SET @@global.max_connections = 100', 'all'],
  ['USE db', 'all'],
  ['use `my db`', 'all'],
  ['PREPARE s FROM "SELECT 1"', 'all'],
  ['DEALLOCATE PREPARE s', 'all'],
  ['DROP PREPARE s', 'all'],
  // statements only for the next transaction
  ['SET TRANSACTION READ ONLY', 'master'],
  ['SET TRANSACTION ISOLATION LEVEL SERIALIZABLE', 'master'],
  // writes
  ['INSERT INTO t VALUES (1)', 'master'],
  ['insert into t (a) values (1), (2)', 'master'],
  ['INSERT INTO t SELECT * FROM u', 'master'],
  ['INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE a = 2', 'master'],
  ['REPLACE INTO t VALUES (1)', 'master'],
  ['UPDATE t SET a = 1 WHERE id = 2', 'master'],
  ['DELETE FROM t WHERE id = 1', 'master'],
  ['TRUNCATE TABLE t', 'master'],
  ['LOAD DATA LOCAL INFILE "/tmp/x" INTO TABLE t', 'master'],
  ['LOAD DATA INFILE "/tmp/x" INTO TABLE t', 'master'],
  ['CREATE TABLE t (id INT)', 'master'],
  ['CREATE TEMPORARY TABLE t (id INT)', 'master'],
  ['CREATE OR REPLACE TABLE t (id INT)', 'master'],
  ['CREATE DATABASE d', 'master'],
  ['CREATE INDEX i ON t (a)', 'master'],
  ['CREATE SEQUENCE s', 'master'],
  ['ALTER TABLE t ADD COLUMN b INT', 'master'],
  ['DROP TABLE t', 'master'],
  ['DROP TEMPORARY TABLE IF EXISTS t', 'master'],
  ['RENAME TABLE a TO b', 'master'],
  ['GRANT SELECT ON *.* TO u', 'master'],
  ['REVOKE SELECT ON *.* FROM u', 'master'],
  ['SET PASSWORD FOR u = PASSWORD("x")', 'master'],
  ['SET ROLE r', 'master'],
  ['ANALYZE TABLE t', 'master'],
  ['OPTIMIZE TABLE t', 'master'],
  ['CHECK TABLE t', 'master'],
  ['LOCK TABLES t WRITE', 'master'],
  ['UNLOCK TABLES', 'master'],
  ['FLUSH TABLES', 'master'],
  ['HANDLER t OPEN', 'master'],
  ['CALL p()', 'master'],
  ['CALL db.p(1, @out)', 'master'],
  ['DO SLEEP(1)', 'master'],
  ['START SLAVE', 'master'],
  ['STOP SLAVE', 'master'],
  ['RESET MASTER', 'master'],
  ['SAVEPOINT a', 'master'],
  ['RELEASE SAVEPOINT a', 'master'],
  ['ROLLBACK TO SAVEPOINT a', 'master'],
  ['ROLLBACK WORK TO a', 'master'],
  ['XA PREPARE "x"', 'master'],
  ['XA COMMIT "x"', 'master'],
  ['EXECUTE IMMEDIATE "SELECT 1"', 'master'],
  ['BEGIN NOT ATOMIC SELECT 1; END', 'master'],
  ['KILL QUERY ID 5', 'master'],
  ['INSTALL PLUGIN x SONAME "y"', 'master'],
  ['WITH x AS (SELECT 1) UPDATE t SET a = 1', 'master'],
  // transaction boundaries (their own target logic lives in the router)
  ['BEGIN', 'master'],
  ['BEGIN WORK', 'master'],
  ['START TRANSACTION', 'master'],
  ['START TRANSACTION READ WRITE', 'master'],
  ['START TRANSACTION WITH CONSISTENT SNAPSHOT', 'master'],
  ['COMMIT', 'master'],
  ['COMMIT WORK', 'master'],
  ['ROLLBACK', 'master'],
  ['XA START "x"', 'master'],
  ['XA END "x"', 'master'],
  // comments and quoting
  ['/* a comment */ SELECT 1', 'slave'],
  ['SELECT 1 /* FOR UPDATE */', 'slave'],
  ['SELECT 1 -- FOR UPDATE', 'slave'],
  ['SELECT 1 # FOR UPDATE', 'slave'],
  ['-- a comment\nSELECT 1', 'slave'],
  ['# a comment\nSELECT 1', 'slave'],
  ['/* INSERT */ SELECT 1', 'slave'],
  ['/* SELECT */ INSERT INTO t VALUES (1)', 'master'],
  ["SELECT 'FOR UPDATE' FROM t", 'slave'],
  ['SELECT "INSERT INTO t" AS q', 'slave'],
  ["SELECT 'it''s' AS q", 'slave'],
  ["SELECT 'a\\'b; INSERT' AS q", 'slave'],
  ['SELECT `select` FROM `from`', 'slave'],
  ['SELECT a FROM t WHERE b = "; DELETE FROM t"', 'slave'],
  ["SELECT ';' AS semicolon", 'slave'],
  ['SELECT 1--1', 'slave'],
  ['SELECT 1 --1', 'slave'],
  // executable comments are SQL
  ['/*!40101 SET NAMES utf8 */', 'all'],
  ['/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE */', 'all'],
  ['SELECT 1 /*!50000 FOR UPDATE */', 'master'],
  ['SELECT * FROM t /*! LOCK IN SHARE MODE */', 'master'],
  ['/*!INSERT INTO t VALUES (1) */', 'master'],
  ['/*M!100101 SET STATEMENT max_statement_time=1 FOR */ SELECT 1', 'slave'],
  ['SELECT /*+ MAX_EXECUTION_TIME(1000) */ * FROM t', 'slave'],
  // SET STATEMENT ... FOR
  ['SET STATEMENT max_statement_time=1 FOR SELECT * FROM t', 'slave'],
  ['SET STATEMENT max_statement_time=1 FOR UPDATE t SET a = 1', 'master'],
  // multi-statements
  ['SELECT 1; SELECT 2', 'master'],
  ['INSERT INTO t VALUES (1); SELECT 1', 'master'],
  ['SET autocommit=1; INSERT INTO t VALUES (1)', 'master'],
  ['SET @a = 1; SELECT @a', 'master'],
  ['SELECT 1;', 'slave'],
  ['SELECT 1 ;  ', 'slave'],
  ['SELECT 1; -- trailing comment', 'slave'],
  ['SELECT 1; /* trailing */', 'slave'],
  // text prepared statements
  ['EXECUTE s', 'master'],
  ['EXECUTE s USING @a', 'master'],
  // unknown and odd input: the primary
  ['', 'slave'],
  ['   ', 'slave'],
  ['/* only a comment */', 'slave'],
  ['GARBAGE STATEMENT', 'master'],
  ['42', 'master'],
  ['(', 'master'],
  ['SELECT', 'slave'],
  ['VALUES (1), (2)', 'slave'],
  ['TABLE t', 'slave'],
  ['BINLOG "abc"', 'master'],
  ["SELECT 'unterminated", 'slave'],
  ['SELECT /* unterminated', 'slave'],
  ['SELECT `unterminated', 'slave'],
  ['SELECT "\\\\" AS backslash', 'slave'],
  ['SELECT ＡＢＣ FROM t', 'slave'],
  ['SELECT 1e10, 0x1F, .5', 'slave'],
  ['SELECT a FROM t PROCEDURE ANALYSE()', 'master'],
];

test(`the classifier routes ${TABLE.length} statements as MaxScale does`, () => {
  const wrong: string[] = [];
  for (const [sql, expected] of TABLE) {
    const got = target(classify(sql));
    if (got !== expected) wrong.push(`${JSON.stringify(sql)}: expected ${expected}, got ${got}`);
  }
  assert.deepEqual(wrong, []);
  assert.ok(TABLE.length >= 200);
});

test('facts besides the target: temporary tables, drops, locks, calls, multi-statements, isolation, KILL, text prepares', () => {
  assert.equal(classify('CREATE TEMPORARY TABLE IF NOT EXISTS db.tmp (a INT)').createdTemporary, 'db.tmp');
  assert.equal(classify('create temporary table `Tmp` (a INT)').createdTemporary, 'tmp');
  assert.deepEqual(classify('DROP TABLE IF EXISTS a, db.b').dropped, ['a', 'db.b']);
  assert.deepEqual(classify('SELECT * FROM tmp t JOIN db.other o ON t.a = o.a').tables, ['tmp', 'db.other']);
  assert.deepEqual(classify('SELECT * FROM a, b WHERE a.x = b.x').tables, ['a', 'b']);
  assert.equal(classify('SELECT GET_LOCK("x", 1)').usesLock, true);
  assert.equal(classify('CALL p()').call, true);
  assert.equal(classify('SELECT 1; SELECT 2').multiStatement, true);
  assert.equal(classify("SELECT ';'").multiStatement, false);
  assert.equal(classify('SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE').isolation, 'SERIALIZABLE');
  assert.equal(classify("SET SESSION tx_isolation = 'SERIALIZABLE'").isolation, 'SERIALIZABLE');
  assert.equal(classify("SET transaction_isolation = 'REPEATABLE-READ'").isolation, 'REPEATABLE READ');
  assert.deepEqual(classify('KILL 12').kill, { id: 12, query: false });
  assert.deepEqual(classify('KILL CONNECTION 12').kill, { id: 12, query: false });
  assert.deepEqual(classify('KILL HARD QUERY 7').kill, { id: 7, query: true });
  assert.equal(classify('KILL USER bob').kill, null);
  const p = classify("PREPARE ps FROM 'SELECT @@server_id'");
  assert.equal(p.preparedName, 'ps');
  assert.equal(p.preparedSql, 'SELECT @@server_id');
  assert.equal(classify('EXECUTE ps USING @a').preparedName, 'ps');
  assert.ok(classify('START TRANSACTION READ ONLY').readOnlyTrx);
  assert.ok(classify('START TRANSACTION READ ONLY').type & Type.BEGIN_TRX);
  assert.ok(classify('SET autocommit=0').type & Type.DISABLE_AUTOCOMMIT);
  assert.ok(classify('SET a=1, autocommit=1').type & Type.ENABLE_AUTOCOMMIT);
  assert.ok(classify('SET SESSION TRANSACTION READ ONLY').type & Type.READONLY);
  assert.ok(classify('SET TRANSACTION READ ONLY').type & Type.NEXT_TRX);
});

test('the classifier never throws, whatever the input (fuzz)', () => {
  const seed = Date.now() % 100_000;
  console.log(`classifier fuzz seed ${seed}`);
  const pieces = [
    'SELECT',
    'INSERT',
    ' ',
    ';',
    "'",
    '"',
    '`',
    '/*',
    '*/',
    '/*!',
    '--',
    '-- ',
    '#',
    '\n',
    '@',
    '@@',
    ':=',
    '(',
    ')',
    'FROM',
    'FOR UPDATE',
    'SET',
    'autocommit',
    '=',
    '0',
    '\\',
    'é',
    '\u0000',
  ];
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.constantFrom(...pieces), fc.string()), { maxLength: 40 }), (parts) => {
      const c = classify(parts.join(''));
      assert.equal(typeof c.type, 'number');
    }),
    { seed, numRuns: 2000 },
  );
});

// ---- the classifier cache: one classification per canonical form ----

/** Every plain number and quoted string of `sql` replaced by another of its kind (the same form). */
function otherLiterals(sql: string, salt: number): string {
  return sql
    .replace(/'(?:[^'\\]|\\.|'')*'/g, `'x${salt}'`)
    .replace(/"(?:[^"\\]|\\.|"")*"/g, `"y${salt}"`)
    .replace(/(?<![\w$.@])\d+(?:\.\d+)?(?![\w$])/g, String(salt * 7 + 3));
}

test('the classifier cache gives every statement of the table what classify gives, after another of its form was cached', () => {
  for (const [sql] of TABLE) {
    // The other variant first: what it leaves in the cache must fit this one too.
    const other = otherLiterals(sql, 41);
    assert.deepEqual(classifyStatement(other), classify(other), other);
    assert.deepEqual(classifyStatement(sql), classify(sql), sql);
  }
});

test('the classifier cache keys: literals become ?, names and variables stay, the rest is not cached', () => {
  assert.equal(
    canonicalSelect("SELECT c FROM sbtest1 WHERE id=4711 AND k = 'a''b\\'c'"),
    'SELECT c FROM sbtest1 WHERE id=? AND k = ?',
  );
  assert.equal(
    canonicalSelect('select `t1`.a, @v2, @@max_connections, 0x1F, 1e5 from t'),
    'select `t1`.a, @v2, @@max_connections, 0x1F, 1e5 from t',
  );
  for (const sql of [
    'INSERT INTO t VALUES (1)',
    'SET autocommit=0',
    'KILL 5',
    'SELECT 1; SELECT 2',
    'SELECT 1 -- comment',
    'SELECT /*!50000 1 */',
    'SELECT 1 # x',
    "SELECT @'quoted'",
    "SELECT 'unterminated",
    'SELECTED FROM t',
    '(SELECT 1)',
  ])
    assert.equal(canonicalSelect(sql), null, sql);
  // A variable's name keeps its dots and digits: @@warning_count.5 is another variable than @@warning_count.
  assert.equal(canonicalSelect('SELECT @@warning_count.5, @v.1, @2'), 'SELECT @@warning_count.5, @v.1, @2');
  classifyStatement('SELECT @@warning_count.5');
  assert.deepEqual(classifyStatement("SELECT @@warning_count'a'"), classify("SELECT @@warning_count'a'"));
  const before = { ...classifierCacheStats };
  classifyStatement('SELECT k FROM cached_form WHERE id = 1');
  classifyStatement('SELECT k FROM cached_form WHERE id = 2');
  assert.equal(classifierCacheStats.misses - before.misses, 1);
  assert.equal(classifierCacheStats.hits - before.hits, 1);
  assert.ok(Object.isFrozen(classifyStatement('SELECT k FROM cached_form WHERE id = 3')));
});

test('a lookup that misses, then classifyAndRemember on the same packet, as the router calls them: one miss, the right form kept', () => {
  const packet = (sql: string) => Buffer.concat([Buffer.from([0, 0, 0, 0, 3]), Buffer.from(sql)]);
  const write = packet('SELECT x FROM lookup_then_classify WHERE id = 1 FOR UPDATE');
  const before = { ...classifierCacheStats };
  assert.equal(lookupClassification(write, 5), null);
  const c = classifyAndRemember(write, 5, write.toString('utf8', 5));
  assert.deepEqual(c, classify('SELECT x FROM lookup_then_classify WHERE id = 1 FOR UPDATE'));
  assert.equal(classifierCacheStats.misses - before.misses, 1);
  assert.equal(lookupClassification(packet('SELECT x FROM lookup_then_classify WHERE id = 9 FOR UPDATE'), 5), c);
  // Another packet canonicalised between the miss and the classification: the first packet's
  // own form is kept, not the one the other left behind.
  classifyStatement('SELECT y FROM interleaved_other WHERE id = 1 FOR UPDATE');
  const read = packet('SELECT y FROM interleaved_form WHERE id = 1');
  assert.equal(lookupClassification(read, 5), null);
  assert.notEqual(lookupClassification(packet('SELECT y FROM interleaved_other WHERE id = 2 FOR UPDATE'), 5), null);
  const r = classifyAndRemember(read, 5, read.toString('utf8', 5));
  assert.equal(target(r), 'slave');
  assert.equal(lookupClassification(packet('SELECT y FROM interleaved_form WHERE id = 2'), 5), r);
  assert.equal(
    target(lookupClassification(packet('SELECT y FROM interleaved_other WHERE id = 3 FOR UPDATE'), 5)!),
    'master',
  );
});

test('the classifier cache keeps its forms within cache_size bytes, the oldest going first; an evicted form classifies again; 0 keeps none', () => {
  const limit = classifierCacheLimit();
  try {
    const form = (i: number) => `SELECT a FROM form_${String(i).padStart(5, '0')} WHERE id = 1`;
    const cost = entryCost(Buffer.byteLength(form(0)));
    setClassifierCacheLimit(50 * cost);
    assert.ok(classifierCacheUsage().bytes <= 50 * cost, 'a smaller size evicts at once');
    const evicted = classifierCacheStats.evictions;
    const first = classifyStatement(form(0));
    for (let i = 1; i <= 120; i++) classifyStatement(form(i));
    const usage = classifierCacheUsage();
    assert.ok(usage.bytes <= 50 * cost, `${usage.bytes} bytes kept`);
    assert.equal(usage.entries, 50);
    assert.ok(classifierCacheStats.evictions - evicted >= 71);
    const misses = classifierCacheStats.misses;
    const again = classifyStatement(form(0).replace('id = 1', 'id = 2'));
    assert.equal(classifierCacheStats.misses, misses + 1, 'the oldest form was evicted');
    assert.deepEqual(again, first);
    classifyStatement(form(120).replace('id = 1', 'id = 7'));
    assert.equal(classifierCacheStats.misses, misses + 1, 'the newest form is still there');

    setClassifierCacheLimit(0);
    assert.deepEqual(classifierCacheUsage(), { bytes: 0, entries: 0 });
    const inserts = classifierCacheStats.inserts;
    assert.deepEqual(classifyStatement(form(5)), classify(form(5)));
    assert.deepEqual(classifierCacheTop(10), []);
    assert.equal(classifierCacheStats.inserts, inserts, 'with cache_size 0 nothing is kept');
  } finally {
    setClassifierCacheLimit(limit);
  }
});

test('the classifier cache lists its forms by hits, most first, as many as asked', () => {
  const sql = (name: string, n: number) => `SELECT v FROM top_${name} WHERE id = ${n}`;
  const hits = { a: 3, b: 7, c: 0, d: 5 };
  for (const [name, count] of Object.entries(hits)) for (let n = 0; n <= count; n++) classifyStatement(sql(name, n));
  const listed = classifierCacheTop(10_000).filter((e) => e.canonical.startsWith('SELECT v FROM top_'));
  assert.deepEqual(
    listed.map((e) => [e.canonical, e.hits]),
    [
      ['SELECT v FROM top_b WHERE id = ?', 7],
      ['SELECT v FROM top_d WHERE id = ?', 5],
      ['SELECT v FROM top_a WHERE id = ?', 3],
      ['SELECT v FROM top_c WHERE id = ?', 0],
    ],
  );
  const all = classifierCacheTop(10_000);
  const two = classifierCacheTop(2);
  assert.equal(two.length, 2);
  assert.deepEqual(
    two.map((e) => e.hits),
    all.slice(0, 2).map((e) => e.hits),
  );
  assert.deepEqual(classifierCacheTop(0), []);
  assert.equal(listed[0]!.classification, classifyStatement(sql('b', 99)), 'the cached classification itself');
});

test('the classifier cache never gives a statement another classification than classify (fuzz)', () => {
  // 31019 found `@@warning_count.5` read as a name and a number (fixed); it runs first every time.
  const seeds = [31019, Date.now() % 100_000];
  for (const seed of seeds) cacheFuzz(seed);
});

function cacheFuzz(seed: number): void {
  console.log(`classifier cache fuzz seed ${seed}`);
  const pieces = [
    'SELECT ',
    'select ',
    ' ',
    'a',
    't1',
    '1',
    '2.5',
    '.5',
    '0x1F',
    '1abc',
    "'s'",
    "'it''s'",
    "'a\\'b'",
    '"d"',
    '`q`',
    '@v',
    '@@warning_count',
    '@@global.x',
    ':=',
    '=',
    ',',
    '(',
    ')',
    '.',
    'FROM ',
    'WHERE ',
    'INTO ',
    'OUTFILE ',
    'FOR UPDATE',
    'LOCK IN SHARE MODE',
    'GET_LOCK(',
    'LAST_INSERT_ID()',
    'FOUND_ROWS()',
    'NEXT VALUE FOR s',
    's.nextval',
    'my_udf(',
    'NOW()',
    'UPDATE ',
    'é',
  ];
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 24 }), fc.nat(1000), (parts, salt) => {
      const sql = 'SELECT ' + parts.join('');
      const other = otherLiterals(sql, salt);
      classifyStatement(other);
      assert.deepEqual(classifyStatement(sql), classify(sql), `${sql} after ${other}`);
    }),
    { seed, numRuns: 3000 },
  );
}
