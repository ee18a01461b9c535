/**
 * The protocol fuzz of fuzz-protocol.test.ts, after login, through a readwritesplit service:
 * its router frames every packet, classifies statements, maps prepared statement ids and
 * follows every reply, so a malformed packet meets more code than on readconnroute's
 * pass-through. Each case costs at most its own session; Weir keeps serving. Bounded; the
 * seed is printed (WEIR_FUZZ_SEED replays it).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readErr } from '../../src/proxy/protocol/packets.ts';
import { commandCases, newStats, runCases, startFuzzTarget, type FuzzTarget } from '../harness/protocol-fuzz.ts';

const SEED = Number(process.env.WEIR_FUZZ_SEED ?? 20261130);
const PER_COMMAND = Number(process.env.WEIR_FUZZ_COUNT ?? 1);
const CONCURRENCY = Number(process.env.WEIR_FUZZ_CONCURRENCY ?? 4);

describe('the MariaDB protocol fuzzed after login, through readwritesplit', () => {
  let target: FuzzTarget;

  before(async () => {
    target = await startFuzzTarget(SEED, 'readwritesplit');
  });
  after(async () => {
    await target?.stop();
  });

  test('34: an EXECUTE of a statement id never prepared gets error 1243; an unknown CLOSE is dropped; the session goes on', async () => {
    const client = await target.login();
    const execute = Buffer.alloc(10);
    execute[0] = 0x17;
    execute.writeUInt32LE(999_999, 1);
    execute.writeUInt32LE(1, 6);
    client.command(execute);
    const answer = (await client.next())!;
    assert.equal(answer.payload[0], 0xff);
    assert.equal(readErr(answer.payload).code, 1243);
    assert.equal(answer.sequence, 1);
    const close = Buffer.alloc(5);
    close[0] = 0x19;
    close.writeUInt32LE(424_242, 1);
    client.command(close);
    assert.equal(await client.selectOne(), '1');
    client.destroy();
    await target.onlyBystanderLeft();
  });

  test(`every command byte after login, random and malformed (seed ${SEED}, ${PER_COMMAND} per byte)`, async (t) => {
    const cases = commandCases(SEED, PER_COMMAND);
    t.diagnostic(`seed ${SEED} (WEIR_FUZZ_SEED), ${cases.length} cases, ${CONCURRENCY} at a time`);
    const stats = newStats();
    await runCases(cases, CONCURRENCY, stats, target.freshSession, target.alive);
    await target.stillServing('the last case');
    assert.equal(stats.cases, cases.length);
    await target.onlyBystanderLeft();
  });
});
