/**
 * No client can crash Weir: malformed packets after login, for every command byte, and
 * during authentication, each cost at most their own session. Weir runs as a child process,
 * so that a crash shows as its exit; after every case a session opened before the fuzzing
 * and a fresh one must both still run SELECT 1, and Weir's log must not show its
 * last-resort handler for an unhandled rejection or an uncaught exception.
 *
 * Bounded for `npm test`; the seed is printed. WEIR_FUZZ_SEED replays a seed,
 * WEIR_FUZZ_COUNT sets the random variants per command byte (default 1),
 * WEIR_FUZZ_AUTH_COUNT the random handshake responses (default 40), WEIR_FUZZ_CONCURRENCY
 * the cases played at once (default 4). The long run is test/bench/fuzz-protocol.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { packet, readErr } from '../../src/proxy/protocol/packets.ts';
import {
  authCases,
  commandCases,
  newStats,
  runCases,
  startFuzzTarget,
  type FuzzTarget,
} from '../harness/protocol-fuzz.ts';
import { RawClient } from '../harness/raw-client.ts';

const SEED = Number(process.env.WEIR_FUZZ_SEED ?? 20261130);
const PER_COMMAND = Number(process.env.WEIR_FUZZ_COUNT ?? 1);
const AUTH_RANDOM = Number(process.env.WEIR_FUZZ_AUTH_COUNT ?? 40);
/** Cases played at once, each on its own connection. */
const CONCURRENCY = Number(process.env.WEIR_FUZZ_CONCURRENCY ?? 4);

describe('the MariaDB protocol fuzzed after login and during authentication', () => {
  let target: FuzzTarget;

  before(async () => {
    target = await startFuzzTarget(SEED);
  });
  after(async () => {
    await target?.stop();
  });

  test('regression: a COM_CHANGE_USER without the NUL after the user name gets an error and costs only its session', async () => {
    const client = await target.login();
    client.send(packet(0, Buffer.concat([Buffer.from([0x11]), Buffer.from('fuzz-user-without-nul')])));
    const answers = await client.untilClosed();
    await target.stillServing('the malformed COM_CHANGE_USER');
    assert.equal(answers.length, 1, 'Weir answers once, then closes the session');
    assert.equal(answers[0]!.payload[0], 0xff, 'with an ERR packet');
    const err = readErr(answers[0]!.payload);
    assert.equal(err.code, 1835);
    assert.match(err.message, /Malformed communication packet/);
    await target.onlyBystanderLeft();
  });

  test(`every command byte after login, random and malformed (seed ${SEED}, ${PER_COMMAND} per byte)`, async (t) => {
    const cases = commandCases(SEED, PER_COMMAND);
    t.diagnostic(
      `seed ${SEED} (WEIR_FUZZ_SEED), ${PER_COMMAND} random variants per command byte (WEIR_FUZZ_COUNT), ${cases.length} cases, ${CONCURRENCY} at a time`,
    );
    const stats = newStats();
    const started = performance.now();
    // Each case runs on a session opened after the previous case, which first proves that a
    // fresh session still logs in and answers SELECT 1.
    await runCases(cases, CONCURRENCY, stats, target.freshSession, target.alive);
    await target.stillServing('the last case');
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    t.diagnostic(
      `${stats.cases} cases in ${seconds} s: ${stats.answered} answered; waits without an answer: ${stats.unanswered.join(', ') || 'none'}`,
    );
    assert.equal(stats.cases, cases.length);
    await target.onlyBystanderLeft();
  });

  test(`the authentication step (seed ${SEED}, ${AUTH_RANDOM} random)`, async (t) => {
    const cases = authCases(SEED, AUTH_RANDOM);
    t.diagnostic(
      `seed ${SEED}, ${cases.length} cases (WEIR_FUZZ_AUTH_COUNT random ones: ${AUTH_RANDOM}), ${CONCURRENCY} at a time`,
    );
    const stats = newStats();
    const started = performance.now();
    await runCases(
      cases,
      CONCURRENCY,
      stats,
      async () => (await RawClient.open(target.port)).client,
      target.stillServing,
    );
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    t.diagnostic(
      `${stats.cases} cases in ${seconds} s: ${stats.answered} answered; waits without an answer: ${stats.unanswered.join(', ') || 'none'}`,
    );
    assert.equal(stats.cases, cases.length);
    await target.onlyBystanderLeft();
  });
});
