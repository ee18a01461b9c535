/**
 * The admin API fuzz suite (bounded): every operation of the spec, as an admin, with
 * schema-derived and mutated bodies, junk path parameters, query parameters and headers.
 * No 5xx, every 4xx with the Error body, a refused request changes nothing, and Weir
 * keeps serving. WEIR_FUZZ_SEED and WEIR_FUZZ_COUNT override the seed and the count;
 * test/bench/fuzz-api.ts is the longer run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuzzAdminApi } from '../harness/api-fuzz.ts';
import { asAdmin, useTestWeir } from '../harness/weir.ts';

const box = useTestWeir();

test('admin API fuzz: no 5xx, the Error body on every 4xx, nothing changed by a refused request, still serving', async () => {
  const seed = Number(process.env.WEIR_FUZZ_SEED ?? 10_2026);
  const count = Number(process.env.WEIR_FUZZ_COUNT ?? 160);
  const fuzzer = { user: 'fuzzer', password: 'fuzz-secret-1' };
  await asAdmin(box.t.http.post('/users'))
    .send({ name: fuzzer.user, password: fuzzer.password, role: 'admin' })
    .expect(201);
  // The time cap only guards a badly loaded machine; the seed still fixes which requests are sent.
  const report = await fuzzAdminApi({
    baseUrl: box.t.weir.adminUrl,
    context: box.t.weir.context,
    auth: fuzzer,
    seed,
    count,
    maxMs: 30_000,
  });
  console.log(
    `# admin API fuzz: seed ${seed} (WEIR_FUZZ_SEED), ${report.requests} requests (WEIR_FUZZ_COUNT) over ${report.operations} operations in ${report.ms} ms; statuses ${JSON.stringify(report.statuses)}`,
  );
  assert.ok(report.requests >= Math.min(count, report.operations), 'every operation was exercised');
  assert.deepEqual(report.findings, []);
});
