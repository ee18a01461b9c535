/**
 * The admin login throttle's policy, on a fake clock: per address and per user name, counted
 * at admission so concurrent attempts get successive slots, never forgiven by another user's
 * success, and bounded in what it remembers.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FORGET_AFTER_MS,
  FREE_FAILURES,
  LoginThrottle,
  MAX_DELAY_MS,
  MAX_KEYS,
  type Admission,
} from '../../src/core/login-throttle.ts';

const BASE = 250;

function throttleAt() {
  const clock = { now: 0 };
  return {
    clock,
    throttle: new LoginThrottle(
      () => BASE,
      () => clock.now,
    ),
  };
}

function admitted(a: Admission) {
  assert.ok(a.admitted, 'admitted');
  return a;
}

/**
 * An attacker who sends the next guess as soon as the last was answered (or, when refused,
 * after Retry-After), for `seconds` of fake time; `between` runs before each guess. Returns
 * the wrong guesses that were verified.
 */
function sequentialGuesses(
  seconds: number,
  throttle: LoginThrottle,
  clock: { now: number },
  between = () => {},
): number {
  let verified = 0;
  while (clock.now < seconds * 1000) {
    between();
    const a = throttle.admit('10.0.0.1', 'admin');
    if (!a.admitted) {
      clock.now += a.retryAfterMs;
      continue;
    }
    clock.now += a.waitMs + 40; // the wait, then one scrypt
    a.attempt.failed();
    verified++;
  }
  return verified;
}

describe('admin login throttle', () => {
  test(`the first ${FREE_FAILURES} failures are free, then the gap doubles from admin_auth_failure_delay`, () => {
    const { clock, throttle } = throttleAt();
    for (let i = 0; i < FREE_FAILURES; i++) {
      const a = admitted(throttle.admit('10.0.0.1', 'admin'));
      assert.equal(a.waitMs, 0);
      a.attempt.failed();
    }
    const sixth = admitted(throttle.admit('10.0.0.1', 'admin'));
    assert.equal(sixth.waitMs, BASE);
    clock.now += sixth.waitMs;
    sixth.attempt.failed();
    assert.equal(admitted(throttle.admit('10.0.0.1', 'admin')).waitMs, 2 * BASE);
  });

  test('concurrent attempts are counted at admission: they get successive slots, and those beyond MAX_DELAY_MS are refused', () => {
    const { throttle } = throttleAt();
    const answers = Array.from({ length: 200 }, () => throttle.admit('10.0.0.1', 'admin'));
    const waits = answers.filter((a) => a.admitted).map((a) => (a as { waitMs: number }).waitMs);
    // 5 free, then 250, 250+500, +1000, +2000, +4000 = 7750 ms; the next slot (15750 ms) is too far.
    assert.deepEqual(waits, [0, 0, 0, 0, 0, 250, 750, 1750, 3750, 7750]);
    const refused = answers.filter((a) => !a.admitted);
    assert.equal(refused.length, 190);
    assert.ok(refused.every((a) => (a as { retryAfterMs: number }).retryAfterMs > 0));
  });

  test("another user's success from the same address forgives nothing", () => {
    const { clock, throttle } = throttleAt();
    for (let i = 0; i < FREE_FAILURES; i++) {
      admitted(throttle.admit('10.0.0.1', 'admin')).attempt.failed();
      admitted(throttle.admit('10.0.0.1', 'reader')).attempt.succeeded();
    }
    // Each of the reader's logins was also an attempt from the address, so the gap is already there.
    const next = admitted(throttle.admit('10.0.0.1', 'admin'));
    assert.ok(next.waitMs >= BASE, `waits ${next.waitMs} ms`);
    clock.now += 1;
    assert.ok(admitted(throttle.admit('10.0.0.2', 'admin')).waitMs > 0, 'the user name is throttled from any address');
  });

  test("a user's own success forgives that user name only, not the address", () => {
    const { throttle } = throttleAt();
    for (let i = 0; i < FREE_FAILURES + 1; i++) {
      const a = throttle.admit(`10.0.0.${i}`, 'admin');
      if (a.admitted) a.attempt.failed();
    }
    for (let i = 0; i < FREE_FAILURES + 1; i++) {
      const a = throttle.admit('10.9.9.9', `user${i}`);
      if (a.admitted) a.attempt.failed();
    }
    admitted(throttle.admit('10.0.0.77', 'admin')).attempt.succeeded();
    assert.equal(
      admitted(throttle.admit('10.0.0.78', 'admin')).waitMs,
      0,
      'the admin name is forgiven after its own success',
    );
    const fromGuesser = throttle.admit('10.9.9.9', 'someone');
    assert.ok(!fromGuesser.admitted || fromGuesser.waitMs > 0, 'the guessing address is not forgiven');
  });

  test('guesses per second an attacker gets, sequential and interleaving valid logins, stay under 1 per MAX_DELAY_MS', () => {
    const minute = 60;
    const plain = throttleAt();
    const sequential = sequentialGuesses(minute, plain.throttle, plain.clock);
    const mixed = throttleAt();
    const interleaved = sequentialGuesses(minute, mixed.throttle, mixed.clock, () => {
      const ok = mixed.throttle.admit('10.0.0.1', 'reader');
      if (ok.admitted) ok.attempt.succeeded();
    });
    // Free ones, the doubling ramp (250 ms .. 8 s: 6 guesses), then one per 10 s.
    const bound = FREE_FAILURES + 6 + Math.ceil((minute * 1000) / MAX_DELAY_MS);
    assert.ok(sequential <= bound, `sequential: ${sequential} guesses in a minute`);
    assert.ok(interleaved <= bound, `interleaved with valid logins: ${interleaved} guesses in a minute`);
  });

  test('a client gone while waiting keeps its slot but is not counted as a failure', () => {
    const { clock, throttle } = throttleAt();
    for (let i = 0; i < FREE_FAILURES - 1; i++) admitted(throttle.admit('10.0.0.1', 'admin')).attempt.failed();
    admitted(throttle.admit('10.0.0.1', 'admin')).attempt.abandoned();
    clock.now += 1000;
    const fifth = admitted(throttle.admit('10.0.0.1', 'admin'));
    assert.equal(fifth.waitMs, 0);
    fifth.attempt.failed();
    assert.equal(
      admitted(throttle.admit('10.0.0.1', 'admin')).waitMs,
      BASE,
      'the gap after the fifth failure, not the sixth',
    );
  });

  test('what it remembers is bounded and forgotten after FORGET_AFTER_MS', () => {
    const { clock, throttle } = throttleAt();
    for (let i = 0; i < MAX_KEYS + 500; i++) admitted(throttle.admit(`addr${i}`, `user${i}`)).attempt.failed();
    assert.deepEqual(throttle.size(), { addresses: MAX_KEYS, users: MAX_KEYS });
    clock.now += FORGET_AFTER_MS + 1;
    throttle.purge();
    assert.deepEqual(throttle.size(), { addresses: 0, users: 0 });
  });
});
