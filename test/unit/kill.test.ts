/** KILL USER parsing (readwritesplit reference §2.8): which statements name a user, and which. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseKillUser } from '../../src/proxy/routing/kill.ts';

test('KILL [HARD|SOFT] [CONNECTION|QUERY] USER name, quoted or not, keeps the name as written', () => {
  assert.deepEqual(parseKillUser('KILL USER bob'), { user: 'bob', query: false });
  assert.deepEqual(parseKillUser("kill user 'Bob'"), { user: 'Bob', query: false });
  assert.deepEqual(parseKillUser('KILL HARD CONNECTION USER `app`@`%`'), { user: 'app', query: false });
  assert.deepEqual(parseKillUser('  KILL SOFT QUERY USER "x y"'), { user: 'x y', query: true });
  assert.deepEqual(parseKillUser("KILL QUERY USER 'app'@'10.0.0.1';"), { user: 'app', query: true });
});

test('other statements are not KILL USER', () => {
  for (const sql of [
    'KILL 5',
    'KILL QUERY 5',
    'KILL CONNECTION 5',
    'SELECT 1',
    "INSERT INTO t VALUES ('KILL USER x')",
    'KILL USER',
  ])
    assert.equal(parseKillUser(sql), null, sql);
});
