/**
 * GET /sessions keeps each session's JSON bytes between requests: what it serves must always
 * be what serialising the session now would give.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Session } from '../../src/core/sessions.ts';
import { sessionFields, sessionJson, sessionsJson, sessionsListing, sessionView } from '../../src/http/session-json.ts';
import { keep } from '../../src/proxy/keep.ts';

function session(id: number, over: Partial<Session> = {}): Session {
  return {
    id,
    service: 'Svc',
    user: 'app',
    address: '10.0.0.1',
    port: 40000 + id,
    connected: new Date(1_700_000_000_000 + id),
    state: 'Session ready for routing',
    lastActivity: 1_700_000_000_000,
    defaultDb: null,
    statementsRouted: 0,
    bytesIn: 0,
    bytesOut: 0,
    lastModified: new Date(),
    backends: [{ server: 'db1', state: 'x', role: 'y', stats: {} as never }],
    close: () => undefined,
    ...over,
  };
}

const expected = (list: Session[], now: number) => JSON.stringify(list.map((s) => sessionView(s, now)));

test('the kept text follows every field a session shows as it changes', () => {
  const a = session(1);
  const b = session(2, { user: 'zoë "quoted" \\ user', defaultDb: 'shop' });
  const now = 1_700_000_123_456;
  assert.equal(String(sessionsJson([a, b], now)), expected([a, b], now));
  a.statementsRouted = 3;
  a.bytesIn += 100;
  a.bytesOut += 7;
  a.defaultDb = 'läger';
  b.state = 'Stopping session';
  (b as { user: string }).user = 'other'; // COM_CHANGE_USER
  b.backends = [...b.backends, { server: 'db2', state: 'x', role: 'y', stats: {} as never }];
  a.backends = [{ ...a.backends[0]!, server: 'db3' }]; // routers replace the array whole (backendsChanged)
  a.lastActivity = now - 1500;
  assert.equal(String(sessionsJson([a, b], now + 1)), expected([a, b], now + 1));
  assert.equal(String(sessionJson(b, now)), JSON.stringify(sessionView(b, now)));
  assert.equal(String(sessionsJson([], now)), '[]');
  // A session that has not sent anything yet since `now` reads as 0 s idle, never negative.
  assert.equal(JSON.parse(String(sessionsJson([a], a.lastActivity - 10)))[0].idle, 0);
});

test('idle is written as String(ms / 1000) would write it, for any number of milliseconds', () => {
  const s = session(3);
  const now = 1_700_000_000_000;
  const idles = [0, 1, 5, 10, 50, 99, 100, 120, 999, 1000, 1001, 1010, 1100, 9999, 10_000, 123_456, 86_400_000];
  for (let i = 0; i < 300; i++) idles.push((i * 2_654_435_761) % 10 ** (1 + (i % 11))); // spread over 1 to 11 digits
  for (const ms of [...idles, 0.5, 1234.25]) {
    s.lastActivity = now - ms;
    assert.equal(String(sessionsJson([s], now)), expected([s], now), `idle ${ms} ms`);
  }
});

test("the listing's ETag changes whenever its bytes do, and only then", () => {
  const a = session(1);
  const b = session(2);
  const now = 1_700_000_123_456;
  const etag = (list: Session[], at = now) => sessionsListing(list, at).etag;
  const first = etag([a, b]);
  assert.match(first, /^"[0-9a-f]{40}"$/);
  assert.equal(etag([a, b]), first, 'nothing changed');
  assert.notEqual(etag([a, b], now + 1), first, 'a millisecond later every idle time differs');
  assert.notEqual(etag([b, a]), first, 'another order');
  assert.notEqual(etag([a]), first, 'a session fewer');
  a.bytesIn++;
  const afterBytes = etag([a, b]);
  assert.notEqual(afterBytes, first, 'a counter moved');
  a.state = 'Stopping session';
  assert.notEqual(etag([a, b]), afterBytes, 'a state changed');
  const seen = etag([a, b]);
  let replaying = false;
  b.routerState = () => ({
    transaction: 'none',
    transaction_statements: 0,
    replayable: null,
    replaying,
    primary: 'db1',
    sescmd_history_length: 0,
    last_gtid: null,
  });
  const routed = etag([a, b]);
  assert.notEqual(routed, seen, 'router diagnostics appeared');
  assert.equal(etag([a, b]), routed);
  replaying = true;
  assert.notEqual(etag([a, b]), routed, 'router diagnostics changed');
  const listing = sessionsListing([a, b], now);
  assert.equal(String(listing.json()), expected([a, b], now));
});

test('listings asked for in any order each give the bytes their ETag stands for', () => {
  const a = session(1);
  const b = session(2, { statementsRouted: 4 });
  const now = 1_700_000_123_456;
  const first = sessionsListing([a, b], now);
  const second = sessionsListing([b], now + 5);
  assert.ok(first.etag && second.etag);
  assert.equal(String(first.json()), expected([a, b], now));
  assert.equal(String(second.json()), expected([b], now + 5));
  // Bytes asked for after the sessions changed under a sent ETag: an error, never other bytes.
  const third = sessionsListing([a], now);
  assert.ok(third.etag);
  assert.ok(sessionsListing([b], now).etag);
  a.bytesIn = 99;
  assert.throws(() => third.json(), /changed between the ETag/);
});

test("a sent listing's memory serves the next listing, never one still being sent", () => {
  const list = [session(1), session(2, { defaultDb: 'shop' })];
  const now = 1_700_000_123_456;
  const sending = sessionsListing(list, now);
  const held = String(sending.json());
  const other = sessionsListing(list, now + 1);
  const otherBytes = other.json();
  assert.equal(String(sending.json()), held, 'not released: not reused');
  assert.equal(String(otherBytes), expected(list, now + 1));
  other.release();
  const next = sessionsListing(list.slice(0, 1), now + 2);
  const nextBytes = next.json();
  assert.equal(nextBytes.buffer, otherBytes.buffer, 'the released memory is reused');
  assert.equal(String(nextBytes), expected(list.slice(0, 1), now + 2));
  assert.equal(String(sending.json()), held);
});

test('fields builds only the fields asked for, in the order asked', () => {
  const s = session(5, { defaultDb: 'shop' });
  assert.deepEqual(Object.entries(sessionFields(s, 0, ['state', 'id', 'nonsense'])), [
    ['state', 'Session ready for routing'],
    ['id', 5],
  ]);
});

test('a kept buffer is a copy: the buffer it came from may be reused', () => {
  const source = Buffer.from('0123456789abcdefghij');
  const kept = keep(source);
  source.fill(0);
  assert.equal(kept.toString(), '0123456789abcdefghij');
  const many = Array.from({ length: 500 }, (_, i) => keep(Buffer.from(`value-${i}`)));
  assert.deepEqual(
    many.map(String),
    Array.from({ length: 500 }, (_, i) => `value-${i}`),
  );
  assert.equal(keep(Buffer.alloc(1000, 7)).length, 1000);
});
