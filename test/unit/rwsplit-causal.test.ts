/**
 * The pieces of causal_reads that do not need a server: reading `last_gtid` from an OK
 * packet's session state, cutting the causal wait's result out of a reply in any chunking,
 * reading the GTID probe's answer, and the mode names.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { packet, Writer } from '../../src/proxy/protocol/packets.ts';
import { Capability } from '../../src/proxy/protocol/packets.ts';
import { ReplyTracker, Command, type Reply } from '../../src/proxy/protocol/reply-tracker.ts';
import { lastGtidOf, SESSION_STATE_CHANGED, trackedVariables } from '../../src/proxy/protocol/session-track.ts';
import { causalMode, firstTextValue, HideFirstResult } from '../../src/proxy/routing/readwritesplit/causal-reads.ts';

const lenenc = (b: Buffer) => Buffer.concat([Buffer.from([b.length]), b]);
const str = (s: string) => lenenc(Buffer.from(s));

/** An OK payload with CLIENT_SESSION_TRACK: tracked system variables in its session state. */
function okWithState(vars: Record<string, string>, status = 0x0002 | SESSION_STATE_CHANGED): Buffer {
  const entries = Object.entries(vars).map(([k, v]) => {
    const data = Buffer.concat([str(k), str(v)]);
    return Buffer.concat([Buffer.from([0]), lenenc(data)]);
  });
  // A schema change entry too: it is skipped.
  entries.push(Buffer.concat([Buffer.from([1]), lenenc(str('causal'))]));
  const state = Buffer.concat(entries);
  return Buffer.concat([
    Buffer.from([0x00, 1, 0]), // header, affected rows 1, insert id 0
    Buffer.from([status & 0xff, status >> 8, 0, 0]),
    str(''), // info
    lenenc(state),
  ]);
}

function textResult(firstSeq: number, value: string, deprecateEof: boolean): Buffer[] {
  let seq = firstSeq;
  const column = new Writer()
    .string('\x03def')
    .string('\x00\x00\x00')
    .string('\x11@@gtid_current_pos')
    .string('\x00\x0c')
    .build();
  const eof = Buffer.from([0xfe, 0, 0, 0x02, 0]);
  const out = [packet(seq++, Buffer.from([1])), packet(seq++, column)];
  if (!deprecateEof) out.push(packet(seq++, eof));
  out.push(packet(seq++, str(value)));
  out.push(packet(seq, deprecateEof ? Buffer.from([0xfe, 0, 0, 0x02, 0, 0, 0]) : eof));
  return out;
}

function chunk(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let at = 0;
  for (const p of points) {
    parts.push(bytes.subarray(at, p));
    at = p;
  }
  parts.push(bytes.subarray(at));
  return parts;
}

describe('causal reads, offline', () => {
  test('last_gtid is read from the session state of an OK packet; other OKs give none', () => {
    const payload = okWithState({ autocommit: 'ON', last_gtid: '0-1-42' });
    assert.equal(lastGtidOf(payload), '0-1-42');
    assert.equal(trackedVariables(payload)?.get('autocommit'), 'ON');
    assert.equal(lastGtidOf(okWithState({ autocommit: 'OFF' })), null);
    assert.equal(lastGtidOf(okWithState({ last_gtid: '0-1-42' }, 0x0002)), null, 'no SESSION_STATE_CHANGED flag');
    assert.equal(lastGtidOf(Buffer.from([0, 0, 0, 2, 0x40, 0, 0, 5, 1])), null, 'a truncated block reads as none');
  });

  test('the reply tracker reports the last_gtid of a write', () => {
    const replies: Reply[] = [];
    const tracker = new ReplyTracker(Capability.PROTOCOL_41 | Capability.SESSION_TRACK, 0, (r) => replies.push(r));
    tracker.expect(Command.QUERY);
    tracker.feed(packet(1, okWithState({ last_gtid: '0-1-7' })));
    assert.equal(replies[0]?.lastGtid, '0-1-7');
    assert.equal(replies[0]?.affectedRows, 1);
  });

  test('the causal wait OK is cut out and the rest renumbered from 1, in any chunking', () => {
    for (const deprecateEof of [false, true]) {
      const ok = packet(1, Buffer.from([0x00, 0, 0, 0x0a, 0x00, 0, 0])); // MORE_RESULTS | AUTOCOMMIT
      const rest = textResult(2, 'x'.repeat(300), deprecateEof);
      const stream = Buffer.concat([ok, ...rest]);
      const expected = Buffer.concat(textResult(1, 'x'.repeat(300), deprecateEof));
      fc.assert(
        fc.property(fc.array(fc.nat(), { maxLength: 12 }), (cuts) => {
          const hide = new HideFirstResult();
          const out = Buffer.concat(chunk(stream, cuts).map((p) => hide.push(p)));
          assert.deepEqual(out, expected);
          assert.equal(hide.firstWasError, false);
        }),
        { seed: 42, numRuns: 300 },
      );
    }
  });

  test('a timed-out wait (an ERR first) is swallowed whole', () => {
    const err = packet(1, Buffer.concat([Buffer.from([0xff, 0xe2, 0x04]), Buffer.from('#21000Subquery returns more')]));
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 6 }), (cuts) => {
        const hide = new HideFirstResult();
        const out = Buffer.concat(chunk(err, cuts).map((p) => hide.push(p)));
        assert.equal(out.length, 0);
        assert.equal(hide.firstWasError, true);
      }),
      { seed: 7, numRuns: 100 },
    );
  });

  test("the probe's answer is read with and without DEPRECATE_EOF", () => {
    assert.equal(firstTextValue(Buffer.concat(textResult(1, '0-1-9,1-2-3', false)), false), '0-1-9,1-2-3');
    assert.equal(firstTextValue(Buffer.concat(textResult(1, '0-1-9', true)), true), '0-1-9');
    assert.equal(firstTextValue(packet(1, Buffer.from([0xff, 1, 1])), false), null);
  });

  test('modes: MaxScale names, and the old booleans', () => {
    assert.equal(causalMode('fast_universal'), 'fast_universal');
    assert.equal(causalMode('true'), 'local');
    assert.equal(causalMode('on'), 'local');
    assert.equal(causalMode('0'), 'none');
    assert.equal(causalMode(undefined), 'none');
  });
});
