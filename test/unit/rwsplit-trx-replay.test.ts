/**
 * The transaction log of transaction_replay (readwritesplit reference §8.1): what is compared
 * under each transaction_replay_checksum mode, transaction_replay_max_size,
 * transaction_replay_safe_commit, and the attempt and time limits.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { errPacket, okPacket } from '../../src/proxy/protocol/packets.ts';
import { newReply } from '../../src/proxy/protocol/reply-tracker.ts';
import {
  describeDifference,
  ignorableError,
  KEEP_REPLY_BYTES,
  replaySettings,
  ReplyDigest,
  TrxLog,
} from '../../src/proxy/routing/readwritesplit/trx-replay.ts';

const settings = (extra: Record<string, unknown> = {}) =>
  replaySettings({ transaction_replay: true, ...extra } as Parameters<typeof replaySettings>[0]);
const query = (sql: string) => Buffer.concat([Buffer.from([sql.length + 1, 0, 0, 0, 0x03]), Buffer.from(sql)]);
/** A tiny result set stand-in: any bytes that are not a lone OK packet. */
const rows = (text: string) => Buffer.concat([Buffer.from([text.length, 0, 0, 1]), Buffer.from(text)]);

function logged(log: TrxLog<null>, reply: Buffer, opts: { masterRead?: boolean; commit?: boolean } = {}): string {
  log.record(query('X'), 3, null, {
    starts: false,
    masterRead: opts.masterRead ?? false,
    commit: opts.commit ?? false,
  });
  log.received(reply);
  log.completed(newReply(3));
  return log.entries.at(-1)!.digest;
}

describe('transaction replay log', () => {
  test('a mismatch can say what differed: replies are kept up to KEEP_REPLY_BYTES per transaction', () => {
    const log = new TrxLog<null>(settings());
    const r = rows('abcdef');
    log.record(query('X'), 3, null, { starts: true, masterRead: false, commit: false });
    log.received(r.subarray(0, 4));
    log.received(r.subarray(4));
    log.completed(newReply(3));
    assert.deepEqual(log.entries[0]!.reply, r);
    // A reply past the budget is not kept (its digest still is); the next transaction starts afresh.
    const big = Buffer.alloc(KEEP_REPLY_BYTES, 0x41);
    assert.equal(logged(log, big) !== '', true);
    assert.equal(log.entries[1]!.reply, null);
    assert.equal(logged(log, rows('g')) !== '', true);
    assert.deepEqual(log.entries[2]!.reply, rows('g'));
    log.close();
    log.record(query('Y'), 3, null, { starts: true, masterRead: false, commit: false });
    log.received(big.subarray(0, KEEP_REPLY_BYTES - 10));
    log.completed(newReply(3));
    assert.equal(log.entries[0]!.reply!.length, KEEP_REPLY_BYTES - 10);
  });

  test('describeDifference names the first differing byte, its packet, and both packets', () => {
    const reply = (second: string) => Buffer.concat([rows('head'), rows(second), rows('tail')]);
    assert.equal(describeDifference(reply('same'), reply('same')), 'identical bytes');
    const d = describeDifference(reply('row-1'), reply('row-2'));
    assert.match(d, /^first difference at byte 16 \(packet 1 at 8\) of 25 vs 25; /);
    assert.match(d, /original: 05000001726f772d31 "row-1"; replayed: 05000001726f772d32 "row-2"$/);
    assert.match(
      describeDifference(reply('a'), rows('head')),
      /first difference at byte 8 \(packet 1 at 8\) of 21 vs 8; /,
    );
  });

  test('full compares every reply; result_only skips OK packets; no_insert_id also skips LAST_INSERT_ID() reads', () => {
    const ok1 = okPacket(1);
    const full = new TrxLog<null>(settings());
    assert.notEqual(logged(full, ok1), '');
    assert.notEqual(logged(full, rows('a')), '');

    const resultOnly = new TrxLog<null>(settings({ transaction_replay_checksum: 'result_only' }));
    assert.equal(logged(resultOnly, ok1), '');
    assert.notEqual(logged(resultOnly, rows('a'), { masterRead: true }), '');
    assert.notEqual(logged(resultOnly, errPacket(1, 1062, '23000', 'dup')), '');

    const noInsertId = new TrxLog<null>(settings({ transaction_replay_checksum: 'no_insert_id' }));
    assert.equal(logged(noInsertId, ok1), '');
    assert.equal(logged(noInsertId, rows('7'), { masterRead: true }), '');
    assert.notEqual(logged(noInsertId, rows('7')), '');
  });

  test('the same bytes give the same digest however they were cut; different bytes a different one', () => {
    const whole = new ReplyDigest();
    whole.update(rows('abcdef'));
    const cut = new ReplyDigest();
    const r = rows('abcdef');
    cut.update(r.subarray(0, 3));
    cut.update(r.subarray(3));
    assert.equal(cut.digest('full', false), whole.digest('full', false));
    const other = new ReplyDigest();
    other.update(rows('abcdeg'));
    assert.notEqual(other.digest('full', false), new ReplyDigest().digest('full', false));
    const log = new TrxLog<null>(settings());
    const entry = { packet: query('X'), command: 3, ref: null, digest: logged(log, rows('abcdef')), reply: null };
    assert.equal(log.digestOf(rows('abcdef'), entry, false), entry.digest);
    assert.notEqual(log.digestOf(rows('abcdeg'), entry, false), entry.digest);
  });

  test('transaction_replay_max_size makes the transaction not replayable, once', () => {
    const log = new TrxLog<null>(settings({ transaction_replay_max_size: 20 }));
    assert.equal(log.record(query('BEGIN'), 3, null, { starts: true, masterRead: false, commit: false }), false);
    log.completed(newReply(3));
    assert.equal(
      log.record(query('INSERT INTO t VALUES (1)'), 3, null, { starts: false, masterRead: false, commit: false }),
      true,
    );
    assert.equal(log.record(query('SELECT 1'), 3, null, { starts: false, masterRead: false, commit: false }), false);
    assert.match(log.mayReplay(0)!, /transaction_replay_max_size/);
  });

  test('safe_commit: a sent COMMIT stops replays, unless the server refused it (read-only)', () => {
    const safe = new TrxLog<null>(settings());
    safe.record(query('BEGIN'), 3, null, { starts: true, masterRead: false, commit: false });
    safe.completed(newReply(3));
    safe.record(query('COMMIT'), 3, null, { starts: false, masterRead: false, commit: true });
    assert.match(safe.mayReplay(0)!, /COMMIT/);
    safe.commitRefused();
    assert.equal(safe.mayReplay(0), null);

    const unsafe = new TrxLog<null>(settings({ transaction_replay_safe_commit: false }));
    unsafe.record(query('COMMIT'), 3, null, { starts: true, masterRead: false, commit: true });
    assert.equal(unsafe.mayReplay(0), null);
  });

  test('attempts count when the timeout is 0; otherwise the time since the first attempt does', () => {
    const counted = new TrxLog<null>(settings({ transaction_replay_timeout: 0, transaction_replay_attempts: 2 }));
    counted.record(query('BEGIN'), 3, null, { starts: true, masterRead: false, commit: false });
    assert.equal(counted.mayReplay(0), null);
    assert.equal(counted.mayReplay(0), null);
    assert.match(counted.mayReplay(0)!, /transaction_replay_attempts \(2\)/);
    counted.replayed();
    assert.equal(counted.mayReplay(0), null);

    const timed = new TrxLog<null>(settings({ transaction_replay_timeout: 5 }));
    timed.record(query('BEGIN'), 3, null, { starts: true, masterRead: false, commit: false });
    assert.equal(timed.mayReplay(1000), null);
    assert.equal(timed.mayReplay(5000), null);
    assert.match(timed.mayReplay(6001)!, /transaction_replay_timeout \(5s\)/);
    assert.equal(new TrxLog<null>(settings({ transaction_replay: false })).mayReplay(0), 'transaction_replay is off');
  });

  test('ignorable errors: read-only always, deadlocks only with retry_on_deadlock', () => {
    const ro = { code: 1290, sqlState: 'HY000', message: 'read-only' };
    const deadlock = { code: 1213, sqlState: '40001', message: 'Deadlock' };
    const dup = { code: 1062, sqlState: '23000', message: 'Duplicate' };
    assert.equal(ignorableError(ro, settings()), true);
    assert.equal(ignorableError(deadlock, settings()), false);
    assert.equal(ignorableError(deadlock, settings({ transaction_replay_retry_on_deadlock: true })), true);
    assert.equal(ignorableError(dup, settings({ transaction_replay_retry_on_deadlock: true })), false);
    assert.equal(ignorableError(null, settings()), false);
  });
});
