/** qlafilter's use_canonical_form: literals become ?, comments and extra whitespace go. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonical } from '../../src/proxy/filters/canonical.ts';

test('literals become ?', () => {
  assert.equal(
    canonical("SELECT * FROM t WHERE id = 42 AND name = 'o''neil' AND x = \"a\\\"b\""),
    'SELECT * FROM t WHERE id = ? AND name = ? AND x = ?',
  );
  assert.equal(canonical("INSERT INTO t VALUES (1.5, -2, 1e3, 0x1F, X'AB')"), 'INSERT INTO t VALUES (?, -?, ?, ?, ?)');
});

test('identifiers with digits, quoted identifiers and variables are kept', () => {
  assert.equal(
    canonical('SELECT c1, `weird 2` FROM sbtest1 WHERE @v1 = 3'),
    'SELECT c1, `weird 2` FROM sbtest1 WHERE @v1 = ?',
  );
});

test('comments go, whitespace collapses, executable comments stay', () => {
  assert.equal(canonical('SELECT 1 -- why\n  FROM   dual /* note */ # end'), 'SELECT ? FROM dual');
  assert.equal(canonical('SELECT /*!40001 SQL_NO_CACHE */ 1'), 'SELECT /*!40001 SQL_NO_CACHE */ ?');
});

test('the same statement with other values reads the same', () => {
  assert.equal(canonical("UPDATE t SET v = 'a' WHERE id = 1"), canonical("UPDATE t   SET v = 'bbb' WHERE id = 9999"));
});
