/**
 * The metrics' data-plane helpers on their own: the pass-through path's ERR scanner finds
 * exactly the server's errors however the stream is split into reads, and a session's
 * logged close reason becomes the right label.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeReason, ErrScanner, sqlStateClass } from '../../src/metrics/dataplane.ts';

const packet = (seq: number, payload: Buffer) => {
  const h = Buffer.alloc(4);
  h.writeUIntLE(payload.length, 0, 3);
  h[3] = seq;
  return Buffer.concat([h, payload]);
};
const err = (code: number, sqlState: string, message: string) => {
  const p = Buffer.alloc(9);
  p[0] = 0xff;
  p.writeUInt16LE(code, 1);
  p[3] = 0x23;
  p.write(sqlState, 4, 'latin1');
  return packet(1, Buffer.concat([p, Buffer.from(message)]));
};
const ok = () => packet(1, Buffer.from([0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00]));
/** A text row whose first column is 250 bytes long (its length prefix is 0xfc, not 0xff). */
const row = (seq: number) => packet(seq, Buffer.concat([Buffer.from([0xfc, 250, 0]), Buffer.alloc(250, 0xff)]));

function scan(stream: Buffer, cuts: number[]): Map<string, number> {
  const counts = new Map<string, number>();
  const s = new ErrScanner(counts);
  let at = 0;
  for (const c of [...cuts, stream.length]) {
    s.feed(stream.subarray(at, c));
    at = c;
  }
  return counts;
}

describe('ErrScanner', () => {
  const stream = Buffer.concat([
    ok(),
    err(1146, '42S02', "Table 'test.nope' doesn't exist"),
    row(1),
    row(2),
    packet(3, Buffer.alloc(0)),
    err(1062, '23000', 'Duplicate entry'),
    err(1317, '70100', 'Query execution was interrupted'),
    ok(),
  ]);

  test('counts each ERR packet by SQLSTATE class, and nothing else', () => {
    assert.deepEqual(Object.fromEntries(scan(stream, [])), { '42': 1, '23': 1, '70': 1 });
  });

  test('the same however the stream is cut into reads (every cut point, and byte by byte)', () => {
    const whole = JSON.stringify([...scan(stream, [])]);
    for (let cut = 1; cut < stream.length; cut++)
      assert.equal(JSON.stringify([...scan(stream, [cut])]), whole, `cut at ${cut}`);
    assert.equal(
      JSON.stringify([
        ...scan(
          stream,
          Array.from({ length: stream.length - 1 }, (_, i) => i + 1),
        ),
      ]),
      whole,
    );
  });

  test('a packet continuing a 16 MiB one is data even when it starts with 0xff', () => {
    const big = packet(1, Buffer.alloc(0xffffff, 0x41));
    const continuation = packet(2, Buffer.from([0xff, 0x01, 0x02]));
    assert.deepEqual(
      Object.fromEntries(scan(Buffer.concat([big, continuation, err(1064, '42000', 'syntax')]), [5, 70000])),
      {
        '42': 1,
      },
    );
  });

  test('unknown classes are `other`; a pre-4.1 ERR without SQLSTATE is HY', () => {
    assert.equal(sqlStateClass('45000'), '45');
    assert.equal(sqlStateClass('ZZ999'), 'other');
    const old = packet(1, Buffer.concat([Buffer.from([0xff, 0x10, 0x04]), Buffer.from('Too many connections')]));
    assert.deepEqual(Object.fromEntries(scan(old, [])), { HY: 1 });
  });
});

describe('closeReason', () => {
  test("the data plane's close texts map to a small set of reasons", () => {
    const cases: Array<[string, boolean, string]> = [
      ['client closed the connection', true, 'client_quit'],
      ['client closed the connection', false, 'client_closed'],
      ['client connection error', false, 'client_error'],
      ["Access denied for user 'u'@'127.0.0.1' (using password: YES)", false, 'login_failed'],
      ['Bad handshake: the client did not log in in time', false, 'login_failed'],
      ['idle for longer than connection_timeout', false, 'idle_timeout'],
      ['closed by an administrator', false, 'killed'],
      ['killed by session 4', false, 'killed'],
      ['service deleted', false, 'killed'],
      ['Weir is stopping', false, 'shutdown'],
      ["Lost connection to backend server 'db1': network error", false, 'backend_error'],
      ["server 'db1' is down", false, 'backend_error'],
      ["Can't connect to the servers of service 'Svc': refused", false, 'backend_error'],
      ['Malformed communication packet: short', false, 'protocol_error'],
      ['internal error: boom', false, 'internal_error'],
      ['Throttling limit reached. Disconnecting.', false, 'other'],
    ];
    for (const [text, quit, reason] of cases) assert.equal(closeReason(text, quit), reason, text);
  });
});
