/**
 * The admin password hasher runs at most `concurrency` scrypts at once, queues at most
 * `maxQueued`, refuses the rest at once, and computes what scryptSync computes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scryptSync } from 'node:crypto';
import { HasherBusy, PasswordHasher, SCRYPT } from '../../src/core/password-hasher.ts';

test('a burst beyond concurrency + queue is refused at once; the rest are hashed, one at a time', async () => {
  const hasher = new PasswordHasher(1, 3);
  const salt = Buffer.alloc(16, 1);
  const results = Array.from({ length: 10 }, (_, i) =>
    hasher.hash(`pw${i}`, salt).then(
      (key) => ({ i, key }),
      (err: unknown) => ({ i, err }),
    ),
  );
  assert.deepEqual(hasher.load(), { running: 1, queued: 3 });
  const settled = await Promise.all(results);
  const hashed = settled.filter((r) => 'key' in r);
  const refused = settled.filter((r) => 'err' in r);
  assert.deepEqual(
    hashed.map((r) => r.i),
    [0, 1, 2, 3],
  );
  assert.ok(refused.every((r) => (r as { err: unknown }).err instanceof HasherBusy));
  for (const r of hashed as Array<{ i: number; key: Buffer }>) {
    assert.deepEqual(r.key, scryptSync(`pw${r.i}`, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p }));
  }
  assert.deepEqual(hasher.load(), { running: 0, queued: 0 });
});
