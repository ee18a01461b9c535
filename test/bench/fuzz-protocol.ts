/**
 * The long protocol fuzz run, for nightly use: the cases of test/proxy/fuzz-protocol.test.ts
 * many times over, with fresh seeds, and packets of 16 MiB. Stops at the first case after
 * which Weir is gone, its backstop caught something, or an old or new session cannot run
 * SELECT 1; prints the seed to replay it with (in the test: WEIR_FUZZ_SEED=<seed>).
 *
 *   node --import tsx test/bench/fuzz-protocol.ts [--seed N] [--rounds 20] [--count 8]
 *        [--auth-count 400] [--concurrency 4] [--no-big]
 *
 * Round i uses seed N+i: --count random variants per command byte (0x00..0xFF) plus every
 * structured case, and --auth-count random handshake responses plus the structured ones.
 */
import { parseArgs } from 'node:util';
import { authCases, bigCases, commandCases, newStats, runCases, startFuzzTarget } from '../harness/protocol-fuzz.ts';
import { RawClient } from '../harness/raw-client.ts';

const { values: args } = parseArgs({
  options: {
    seed: { type: 'string', default: String(Date.now() % 1_000_000_007) },
    rounds: { type: 'string', default: '20' },
    count: { type: 'string', default: '8' },
    'auth-count': { type: 'string', default: '400' },
    concurrency: { type: 'string', default: '4' },
    'no-big': { type: 'boolean', default: false },
  },
});
const SEED = Number(args.seed);
const ROUNDS = Number(args.rounds);
const COUNT = Number(args.count);
const AUTH_COUNT = Number(args['auth-count']);
const CONCURRENCY = Number(args.concurrency);

console.log(
  `protocol fuzz: seed ${SEED}, ${ROUNDS} rounds, ${COUNT} variants per command byte, ${AUTH_COUNT} random handshakes, ${CONCURRENCY} at a time`,
);
const target = await startFuzzTarget(SEED);
let seed = SEED;
let total = 0;
const started = performance.now();
try {
  for (let round = 0; round < ROUNDS; round++) {
    seed = SEED + round;
    const after = newStats();
    const begin = performance.now();
    const commands = [...commandCases(seed, COUNT), ...(args['no-big'] ? [] : bigCases(seed))];
    await runCases(commands, CONCURRENCY, after, target.freshSession, target.alive);
    const auth = newStats();
    await runCases(
      authCases(seed, AUTH_COUNT),
      CONCURRENCY,
      auth,
      async () => (await RawClient.open(target.port)).client,
      target.stillServing,
    );
    await target.stillServing(`round ${round}`);
    total += after.cases + auth.cases;
    const seconds = (performance.now() - begin) / 1000;
    console.log(
      `round ${round} (seed ${seed}): ${after.cases} cases after login, ${auth.cases} handshakes in ${seconds.toFixed(1)} s ` +
        `(${((after.cases + auth.cases) / seconds).toFixed(0)}/s); answered ${after.answered + auth.answered}; ` +
        `waits without an answer: ${after.unanswered.length + auth.unanswered.length}`,
    );
  }
  await target.onlyBystanderLeft();
  console.log(
    `protocol fuzz passed: ${total} cases in ${((performance.now() - started) / 1000).toFixed(1)} s, seeds ${SEED}..${seed}; Weir still serving`,
  );
} catch (err) {
  console.error(`protocol fuzz FAILED at seed ${seed} (replay: --seed ${seed} --rounds 1):\n${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await target.stop();
}
