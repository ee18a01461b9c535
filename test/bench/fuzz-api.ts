/**
 * The long admin API fuzz run (nightly): the same fuzzer as test/api/fuzz.test.ts, for
 * many more requests and several seeds, against one in-process Weir per seed.
 *
 *   node --import tsx test/bench/fuzz-api.ts [--count 5000] [--seeds 3] [--seed 1]
 *
 * Prints requests, seconds and statuses per seed and every finding; exits 1 on a finding.
 */
import { parseArgs } from 'node:util';
import request from 'supertest';
import { fuzzAdminApi } from '../harness/api-fuzz.ts';
import { ADMIN, removeDir, startTestWeir } from '../harness/weir.ts';

const { values: args } = parseArgs({
  options: {
    count: { type: 'string', default: '5000' },
    seeds: { type: 'string', default: '3' },
    seed: { type: 'string', default: String(Date.now() % 1_000_000) },
  },
});

let failed = false;
for (let i = 0; i < Number(args.seeds); i++) {
  const seed = Number(args.seed) + i;
  const t = await startTestWeir();
  try {
    const fuzzer = { user: 'fuzzer', password: 'fuzz-secret-1' };
    await request(t.weir.adminUrl)
      .post('/users')
      .auth(ADMIN.user, ADMIN.password)
      .send({ name: fuzzer.user, password: fuzzer.password, role: 'admin' })
      .expect(201);
    const report = await fuzzAdminApi({
      baseUrl: t.weir.adminUrl,
      context: t.weir.context,
      auth: fuzzer,
      seed,
      count: Number(args.count),
    });
    console.log(
      `seed ${seed}: ${report.requests} requests over ${report.operations} operations in ${(report.ms / 1000).toFixed(1)} s (${Math.round(report.requests / (report.ms / 1000))}/s); statuses ${JSON.stringify(report.statuses)}; ${report.findings.length} findings`,
    );
    for (const f of report.findings) console.log(`  ${f.slice(0, 600)}`);
    if (report.findings.length) failed = true;
  } finally {
    await t.stop();
    removeDir(t.datadir);
  }
}
process.exit(failed ? 1 : 0);
