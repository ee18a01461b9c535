/**
 * GET /sessions keeps each session's JSON bytes between requests: what it serves must always
 * be what serialising the session now would give.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Session } from '../../src/core/sessions.ts';
import { sessionFields, sessionJson, sessionsJson, sessionView } from '../../src/http/session-json.ts';
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
  a.backends[0]!.server = 'db3'; // changed in place
  a.lastActivity = now - 1500;
  assert.equal(String(sessionsJson([a, b], now + 1)), expected([a, b], now + 1));
  assert.equal(String(sessionJson(b, now)), JSON.stringify(sessionView(b, now)));
  assert.equal(String(sessionsJson([], now)), '[]');
  // A session that has not sent anything yet since `now` reads as 0 s idle, never negative.
  assert.equal(JSON.parse(String(sessionsJson([a], a.lastActivity - 10)))[0].idle, 0);
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
