/**
 * The reply tracker reads a read that holds one whole reply in one pass (wholeReply), and
 * everything else packet by packet. Both must say the same of every reply: each crafted
 * server answer below is fed whole, then one byte per read (which never takes the one-pass
 * path), and then in two reads cut at every offset; the replies must be identical, field
 * by field. The answers are the shapes that must leave the one-pass path (more results,
 * session state, an error, a cursor, a row that starts with 0xFE, two replies in one read)
 * beside those it takes.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Capability } from '../../src/proxy/protocol/packets.ts';
import { Command, ReplyTracker, type Reply } from '../../src/proxy/protocol/reply-tracker.ts';

const MORE_RESULTS = 0x0008;
const CURSOR_EXISTS = 0x0040;
const SESSION_STATE_CHANGED = 0x4000;

function packet(sequence: number, payload: number[] | Buffer): Buffer {
  const body = Buffer.from(payload);
  const head = Buffer.from([body.length & 0xff, (body.length >> 8) & 0xff, body.length >> 16, sequence]);
  return Buffer.concat([head, body]);
}

const u16 = (n: number) => [n & 0xff, n >> 8];
const ok = (o: { affected?: number[]; status?: number; warnings?: number; header?: number; tail?: number[] } = {}) => [
  o.header ?? 0x00,
  ...(o.affected ?? [0]),
  0, // last insert id
  ...u16(o.status ?? 0x0002),
  ...u16(o.warnings ?? 0),
  ...(o.tail ?? []),
];
const eof = (status = 0x0002, warnings = 0) => [0xfe, ...u16(warnings), ...u16(status)];
const columnDef = (name: string) =>
  Buffer.concat([Buffer.from([3]), Buffer.from('def'), Buffer.from([name.length]), Buffer.from(name)]);
const row = (...values: string[]) =>
  Buffer.concat(values.map((v) => Buffer.concat([Buffer.from([v.length]), Buffer.from(v)])));

/** A result set of `rows` one-column rows, ended as the capabilities say. */
function resultSet(
  deprecateEof: boolean,
  rows: Buffer[],
  o: { status?: number; warnings?: number; eofStatus?: number } = {},
): Buffer[] {
  const parts: Buffer[] = [packet(1, [1]), packet(2, columnDef('a'))];
  let seq = 3;
  if (!deprecateEof) parts.push(packet(seq++, eof(o.eofStatus ?? 0x0002)));
  for (const r of rows) parts.push(packet(seq++, r));
  parts.push(
    packet(
      seq,
      deprecateEof
        ? ok({ header: 0xfe, status: o.status, warnings: o.warnings })
        : eof(o.status ?? 0x0002, o.warnings ?? 0),
    ),
  );
  return parts;
}

function feedAll(deprecateEof: boolean, commands: number[], reads: Buffer[]): Reply[] {
  const replies: Reply[] = [];
  const tracker = new ReplyTracker(
    deprecateEof ? Capability.DEPRECATE_EOF | Capability.PROTOCOL_41 : Capability.PROTOCOL_41,
    0,
    (r) => replies.push({ ...r, firstByteAt: 0, completedAt: 0 }),
  );
  for (const c of commands) tracker.expect(c);
  for (const r of reads) tracker.feed(r);
  assert.equal(tracker.lost, false, 'the tracker lost its place');
  return replies;
}

/** Fed whole, byte by byte and cut in two at every offset: the same replies every time. */
function sameEveryWay(deprecateEof: boolean, commands: number[], bytes: Buffer): Reply[] {
  const whole = feedAll(deprecateEof, commands, [bytes]);
  const bytewise = feedAll(
    deprecateEof,
    commands,
    [...bytes].map((b) => Buffer.from([b])),
  );
  assert.deepEqual(whole, bytewise);
  for (let cut = 1; cut < bytes.length; cut++)
    assert.deepEqual(
      feedAll(deprecateEof, commands, [bytes.subarray(0, cut), bytes.subarray(cut)]),
      whole,
      `cut at ${cut}`,
    );
  return whole;
}

for (const deprecateEof of [false, true]) {
  describe(`reply tracker, one whole reply per read (${deprecateEof ? 'DEPRECATE_EOF' : 'EOF packets'})`, () => {
    test('a result set: rows, status and warnings as read packet by packet', () => {
      const [r] = sameEveryWay(
        deprecateEof,
        [Command.QUERY],
        Buffer.concat(resultSet(deprecateEof, [row('x'), row('yy'), row('zzz')], { status: 0x0003, warnings: 2 })),
      );
      assert.equal(r!.rows, 3);
      assert.equal(r!.resultSets, 1);
      assert.equal(r!.status, 0x0003);
      assert.equal(r!.warnings, 2);
    });

    test('an empty result set and a binary one (COM_STMT_EXECUTE)', () => {
      assert.equal(sameEveryWay(deprecateEof, [Command.QUERY], Buffer.concat(resultSet(deprecateEof, [])))[0]!.rows, 0);
      assert.equal(
        sameEveryWay(
          deprecateEof,
          [Command.STMT_EXECUTE],
          Buffer.concat(resultSet(deprecateEof, [Buffer.from([0, 0, 1, 7])])),
        )[0]!.rows,
        1,
      );
    });

    test('more results in the same read: one reply of two result sets', () => {
      const first = resultSet(deprecateEof, [row('1')], { status: 0x0002 | MORE_RESULTS });
      const second = resultSet(deprecateEof, [row('2'), row('3')]);
      const [r] = sameEveryWay(deprecateEof, [Command.QUERY], Buffer.concat([...first, ...second]));
      assert.equal(r!.resultSets, 2);
      assert.equal(r!.rows, 3);
    });

    test('two replies in one read (pipelined statements)', () => {
      const replies = sameEveryWay(
        deprecateEof,
        [Command.QUERY, Command.QUERY],
        Buffer.concat([...resultSet(deprecateEof, [row('a')]), packet(1, ok({ affected: [5] }))]),
      );
      assert.equal(replies.length, 2);
      assert.equal(replies[1]!.affectedRows, 5);
    });

    test('an error ends the rows', () => {
      const parts = resultSet(deprecateEof, [row('a')]);
      parts[parts.length - 1] = packet(4, [0xff, ...u16(1317), 0x23, ...Buffer.from('70100interrupted')]);
      const [r] = sameEveryWay(deprecateEof, [Command.QUERY], Buffer.concat(parts));
      assert.equal(r!.error?.code, 1317);
    });

    test('OK packets: plain, with a 2-byte affected-rows count, with more results, with session state', () => {
      assert.equal(
        sameEveryWay(deprecateEof, [Command.QUERY], packet(1, ok({ affected: [3], warnings: 1 })))[0]!.affectedRows,
        3,
      );
      assert.equal(
        sameEveryWay(deprecateEof, [Command.QUERY], packet(1, ok({ affected: [0xfc, 0x10, 0x27] })))[0]!.affectedRows,
        10000,
      );
      const more = sameEveryWay(
        deprecateEof,
        [Command.QUERY],
        Buffer.concat([
          packet(1, ok({ affected: [1], status: 0x0002 | MORE_RESULTS })),
          packet(2, ok({ affected: [2] })),
        ]),
      );
      assert.equal(more[0]!.affectedRows, 3);
      // A tracked system variable (type 0): last_gtid, which the one-pass path leaves to the general one.
      const name = Buffer.from('last_gtid');
      const value = Buffer.from('0-1-42');
      const data = [name.length, ...name, value.length, ...value];
      const block = [0, data.length, ...data];
      const tracked = sameEveryWay(
        deprecateEof,
        [Command.QUERY],
        packet(1, ok({ affected: [1], status: 0x0002 | SESSION_STATE_CHANGED, tail: [0, block.length, ...block] })),
      );
      assert.equal(tracked[0]!.lastGtid, '0-1-42');
    });

    test('a row that starts with 0xFE and a cursor opened by an execute', () => {
      if (!deprecateEof) {
        // Nine bytes or more starting with 0xFE is a row, not an EOF.
        const long = Buffer.from([0xfe, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert.equal(
          sameEveryWay(false, [Command.QUERY], Buffer.concat(resultSet(false, [long, row('b')])))[0]!.rows,
          2,
        );
        // A cursor: the execute's reply ends after its columns' EOF.
        const cursor = Buffer.concat([
          packet(1, [1]),
          packet(2, columnDef('a')),
          packet(3, eof(0x0002 | CURSOR_EXISTS)),
        ]);
        const [r] = sameEveryWay(false, [Command.STMT_EXECUTE], cursor);
        assert.equal(r!.status & CURSOR_EXISTS, CURSOR_EXISTS);
      }
    });
  });
}
