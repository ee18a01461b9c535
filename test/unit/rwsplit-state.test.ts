/**
 * readwritesplit's pure pieces: the transaction state machine (client statements and server
 * status flags), the session command history's limits and pruning, and prepared statement
 * id and parameter-type rewriting.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classify } from '../../src/proxy/routing/readwritesplit/classify.ts';
import { TransactionTracker } from '../../src/proxy/routing/readwritesplit/transaction.ts';
import { SessionCommandHistory, type HistoryEntry } from '../../src/proxy/routing/readwritesplit/history.ts';
import { readTypes, withStatementId, withTypes } from '../../src/proxy/routing/readwritesplit/prepared.ts';
import { Status } from '../../src/proxy/protocol/commands.ts';

function run(trx: TransactionTracker, sql: string): void {
  const c = classify(sql);
  trx.onStatement(c.type, c.readOnlyTrx);
}

test('transactions: BEGIN/COMMIT, READ ONLY, autocommit=0 (every statement in a transaction), SET SESSION TRANSACTION READ ONLY', () => {
  const t = new TransactionTracker();
  run(t, 'SELECT 1');
  assert.equal(t.active, false);
  run(t, 'BEGIN');
  assert.ok(t.active && !t.readOnly && t.starting);
  run(t, 'SELECT 1');
  assert.ok(t.active && !t.starting);
  run(t, 'COMMIT');
  assert.ok(t.active && t.ending, 'the COMMIT belongs to the transaction');
  run(t, 'SELECT 1');
  assert.equal(t.active, false);
  run(t, 'START TRANSACTION READ ONLY');
  assert.ok(t.active && t.readOnly);
  run(t, 'ROLLBACK');
  run(t, 'SET autocommit=0');
  assert.equal(t.active, false, 'SET autocommit=0 itself is not in the transaction');
  run(t, 'SELECT 1');
  assert.ok(t.active && !t.readOnly, 'the next statement opens one');
  run(t, 'COMMIT');
  run(t, 'SELECT 1');
  assert.ok(t.active, 'with autocommit off, the end of one transaction starts the next');
  run(t, 'SET autocommit=1');
  assert.ok(t.ending);
  run(t, 'SELECT 1');
  assert.equal(t.active, false);
  run(t, 'SET SESSION TRANSACTION READ ONLY');
  run(t, 'START TRANSACTION');
  assert.ok(t.readOnly, 'the session default makes it read-only');
  run(t, 'COMMIT');
  run(t, 'START TRANSACTION READ WRITE');
  assert.ok(t.active && !t.readOnly);
});

test('transactions: the server status flags correct the client-side view (implicit commits, transactions the classifier missed)', () => {
  const t = new TransactionTracker();
  run(t, 'BEGIN');
  t.onServerStatus(Status.IN_TRANS | Status.AUTOCOMMIT);
  run(t, 'INSERT INTO t VALUES (1)');
  t.onServerStatus(Status.IN_TRANS | Status.AUTOCOMMIT);
  run(t, 'CREATE TABLE x (a INT)');
  t.onServerStatus(Status.AUTOCOMMIT); // DDL committed implicitly
  assert.ok(t.ending);
  run(t, 'SELECT 1');
  assert.equal(t.active, false);
  const u = new TransactionTracker();
  run(u, 'SOMETHING NEW');
  u.onServerStatus(Status.IN_TRANS | Status.IN_TRANS_READONLY);
  assert.ok(u.active && u.readOnly);
  assert.equal(u.autocommit, false);
});

const entry = (sql: string, statementId: number | null = null): HistoryEntry => ({
  packet: Buffer.from(sql),
  command: 3,
  statementId,
  ok: true,
});

test('history: limit with pruning drops the oldest, de-duplicates, keeps PREPAREs out of the count; without pruning it is lost', () => {
  const h = new SessionCommandHistory({ max: 3, prune: true, disabled: false });
  h.add(entry('prepare', 1));
  for (const s of ['SET @a=1', 'SET @b=2', 'SET @c=3', 'SET @d=4']) h.add(entry(s));
  assert.deepEqual(
    h.entries.map((e) => e.packet.toString()),
    ['prepare', 'SET @b=2', 'SET @c=3', 'SET @d=4'],
  );
  h.add(entry('SET @b=2'));
  assert.deepEqual(
    h.entries.map((e) => e.packet.toString()),
    ['prepare', 'SET @c=3', 'SET @d=4', 'SET @b=2'],
  );
  assert.ok(h.canRecover);
  h.forgetStatement(1);
  assert.equal(h.entries.length, 3);
  const strict = new SessionCommandHistory({ max: 2, prune: false, disabled: false });
  for (const s of ['SET @a=1', 'SET @b=2']) strict.add(entry(s));
  assert.ok(strict.canRecover);
  strict.add(entry('SET @c=3'));
  assert.equal(
    strict.canRecover,
    false,
    'more than the limit without pruning: new backends cannot be brought up to date',
  );
  strict.clear();
  assert.ok(strict.canRecover, 'COM_CHANGE_USER starts afresh');
  const off = new SessionCommandHistory({ max: 50, prune: true, disabled: true });
  assert.ok(off.canRecover);
  off.add(entry('SET @a=1'));
  assert.equal(off.canRecover, false);
});

test('prepared statements: ids rewritten per backend; parameter types spliced into an execution that lacks them', () => {
  // COM_STMT_EXECUTE of statement 7 with two parameters, types sent (new_params_bound = 1).
  const withBound = Buffer.from([
    0, 0, 0, 0, 0x17, 7, 0, 0, 0, 0, 1, 0, 0, 0, 0x00, 1, 0x03, 0x00, 0xfd, 0x00, 5, 0, 0, 0, 1, 0x61,
  ]);
  withBound.writeUIntLE(withBound.length - 4, 0, 3);
  const types = readTypes(withBound, 2)!;
  assert.deepEqual([...types], [0x03, 0x00, 0xfd, 0x00]);
  const rewritten = withStatementId(withBound, 42);
  assert.equal(rewritten.readUInt32LE(5), 42);
  assert.equal(withBound.readUInt32LE(5), 7, 'the original is not changed');
  // The same execution without types (new_params_bound = 0).
  const without = Buffer.from([0, 0, 0, 0, 0x17, 7, 0, 0, 0, 0, 1, 0, 0, 0, 0x00, 0, 5, 0, 0, 0, 1, 0x61]);
  without.writeUIntLE(without.length - 4, 0, 3);
  assert.equal(readTypes(without, 2), null);
  const spliced = withTypes(without, 2, types);
  assert.deepEqual(spliced, withBound);
  // Too short to hold the flag: left as it is (the server refuses it, Weir does not throw).
  const short = Buffer.from([5, 0, 0, 0, 0x17, 7, 0, 0, 0]);
  assert.equal(readTypes(short, 2), null);
  assert.equal(withTypes(short, 2, types), short);
});
