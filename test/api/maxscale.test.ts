import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { totalmem } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { asAdmin, useTestWeir } from '../harness/weir.ts';

const JSON_PATCH = 'application/json-patch+json';

describe('/maxscale and /sessions', () => {
  const box = useTestWeir();

  test('GET /maxscale describes this process', async () => {
    const res = await asAdmin(box.t.http.get('/maxscale')).expect(200);
    assert.equal(res.body.pid, process.pid);
    assert.equal(res.body.config, box.t.configFile);
    assert.equal(res.body.datadir, box.t.datadir);
    assert.equal(res.body.admin_port, Number(new URL(box.t.weir.adminUrl).port));
    assert.ok(res.body.uptime >= 0);
  });

  test('GET /maxscale/threads reports the event loop', async () => {
    const res = await asAdmin(box.t.http.get('/maxscale/threads')).expect(200);
    assert.equal(res.body.threads.length, 1);
    assert.ok(res.body.threads[0].file_descriptors > 0);
    assert.ok(
      res.body.threads[0].event.includes('TCPServerWrap'),
      'the admin API socket is among what the loop waits on',
    );
    assert.ok(res.body.load_average.historic >= 0 && res.body.load_average.historic <= 100);
  });

  test('GET /maxscale/tasks lists the background tasks', async () => {
    const res = await asAdmin(box.t.http.get('/maxscale/tasks')).expect(200);
    const sampler = res.body.find((x: { name: string }) => x.name === 'load_sampler');
    assert.equal(sampler.frequency, 1);
    assert.ok(Date.parse(sampler.next_due) > Date.now() - 5000);
  });

  test('modules list their parameters; an unknown module is a 404', async () => {
    const res = await asAdmin(box.t.http.get('/maxscale/modules')).expect(200);
    const names = res.body.map((m: { name: string }) => m.name);
    for (const n of ['readconnroute', 'mariadbmon', 'qlafilter', 'regexfilter', 'topfilter', 'throttlefilter'])
      assert.ok(names.includes(n), n);
    const qla = await asAdmin(box.t.http.get('/maxscale/modules/QLAFILTER')).expect(200);
    const filebase = qla.body.parameters.find((p: { name: string }) => p.name === 'filebase');
    assert.deepEqual([filebase.mandatory, filebase.modifiable], [true, false]);
    await asAdmin(box.t.http.get('/maxscale/modules/nosuch')).expect(404);
  });

  test('PATCH /maxscale/logs switches priorities live, persisted; error cannot be turned off', async () => {
    const logFile = (await asAdmin(box.t.http.get('/maxscale/logs')).expect(200)).body.log_file;
    const res = await asAdmin(box.t.http.patch('/maxscale/logs'))
      .type(JSON_PATCH)
      .send([
        { op: 'replace', path: '/log_levels/info', value: true },
        { op: 'replace', path: '/log_throttling/limit', value: 3 },
      ])
      .expect(200);
    assert.equal(res.body.log_levels.info, true);
    assert.equal(res.body.log_throttling.limit, 3);
    box.t.weir.context.log.logger.info('marker-info-on');
    assert.match(readFileSync(logFile, 'utf8'), /marker-info-on/);
    await asAdmin(box.t.http.patch('/maxscale/logs'))
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/log_levels/info', value: false }])
      .expect(200);
    box.t.weir.context.log.logger.info('marker-info-off');
    assert.doesNotMatch(readFileSync(logFile, 'utf8'), /marker-info-off/);
    const err = await asAdmin(box.t.http.patch('/maxscale/logs'))
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/log_levels/error', value: false }])
      .expect(403);
    assert.match(err.body.description, /log_levels\/error is not modifiable/);
    box.t = await box.t.restart();
    const after = await asAdmin(box.t.http.get('/maxscale/logs')).expect(200);
    assert.equal(after.body.log_throttling.limit, 3);
    assert.equal(after.body.log_levels.info, false);
  });

  test('GET /maxscale/query_classifier/classify reads a statement as readwritesplit does, without touching the cache', async () => {
    const classify = async (sql: string) =>
      (await asAdmin(box.t.http.get('/maxscale/query_classifier/classify')).query({ sql }).expect(200)).body;
    const counters = async () => (await asAdmin(box.t.http.get('/maxscale/query_classifier')).expect(200)).body.cache;
    const before = await counters();
    const read = await classify("SELECT c FROM shop.sbtest1 WHERE id = 4711 AND k = 'x'");
    assert.equal(read.canonical, 'SELECT c FROM shop.sbtest1 WHERE id = ? AND k = ?');
    assert.equal(read.classification.type_mask, 'QUERY_TYPE_READ');
    assert.equal(read.classification.parse_result, 'QC_QUERY_TOKENIZED');
    assert.deepEqual(read.classification.tables, ['shop.sbtest1']);
    const locking = await classify('SELECT c FROM t WHERE id = 1 FOR UPDATE');
    assert.match(locking.classification.type_mask, /QUERY_TYPE_WRITE/);
    const update = await classify('UPDATE t SET a = 1');
    assert.equal(update.canonical, null, 'only SELECTs are cached');
    assert.equal(update.classification.type_mask, 'QUERY_TYPE_WRITE');
    assert.match((await classify('SET autocommit=0')).classification.type_mask, /QUERY_TYPE_DISABLE_AUTOCOMMIT/);
    assert.equal((await classify('SELECT FOUND_ROWS()')).classification.relates_to_previous, true);
    assert.deepEqual((await classify('KILL QUERY 42')).classification.kill, { id: 42, query: true });
    assert.equal((await classify("PREPARE s FROM 'SELECT 1'")).classification.prepared_sql, 'SELECT 1');
    assert.equal((await classify('SELECT 1; DELETE FROM t')).classification.multi_statement, true);
    // What the classifier does not understand is a write: it goes to the primary.
    assert.equal((await classify('\u00ff\u0000 garbage ((( "')).classification.type_mask, 'QUERY_TYPE_WRITE');
    assert.deepEqual(await counters(), before, 'classify neither reads nor fills the cache');
    const missing = await asAdmin(box.t.http.get('/maxscale/query_classifier/classify')).expect(400);
    assert.match(missing.body.description, /sql/);
    await asAdmin(box.t.http.get('/maxscale/query_classifier/classify?sql=')).expect(400);
    await asAdmin(box.t.http.get('/maxscale/query_classifier/cache?top=-1')).expect(400);
    await asAdmin(box.t.http.get('/maxscale/query_classifier/cache?top=abc')).expect(400);
  });

  test('PATCH /maxscale/query_classifier sets cache_size live and persisted, beside the log settings; bad values change nothing', async () => {
    const get = async () => (await asAdmin(box.t.http.get('/maxscale/query_classifier')).expect(200)).body;
    const initial = await get();
    assert.equal(
      initial.cache_size,
      Math.floor(0.15 * Math.min(totalmem(), getHeapStatistics().heap_size_limit)),
      "MaxScale's default: 15 % of the memory (here: of the heap's limit, if smaller)",
    );
    await asAdmin(box.t.http.patch('/maxscale/logs'))
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/log_throttling/limit', value: 3 }])
      .expect(200);
    const res = await asAdmin(box.t.http.patch('/maxscale/query_classifier'))
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/cache_size', value: 1048576 }])
      .expect(200);
    assert.equal(res.body.cache_size, 1048576);
    for (const [body, status] of [
      [[{ op: 'replace', path: '/cache_size', value: -1 }], 422],
      [[{ op: 'replace', path: '/cache_size', value: 1.5 }], 422],
      [[{ op: 'replace', path: '/cache_size', value: '1M' }], 422],
      [[{ op: 'replace', path: '/cache_size', value: 1e300 }], 422],
      [[{ op: 'replace', path: '/cache/hits', value: 12345 }], 403],
      [[{ op: 'remove', path: '/cache_size' }], 422],
      [[{ op: 'replace', path: '/nosuch', value: 1 }], 422],
    ] as const) {
      await asAdmin(box.t.http.patch('/maxscale/query_classifier')).type(JSON_PATCH).send(body).expect(status);
      assert.equal((await get()).cache_size, 1048576, JSON.stringify(body));
    }
    await asAdmin(box.t.http.patch('/maxscale/query_classifier'))
      .type('application/json')
      .send('{"cache_size": ')
      .expect(400);
    box.t = await box.t.restart();
    assert.equal((await get()).cache_size, 1048576, 'persisted');
    const logs = await asAdmin(box.t.http.get('/maxscale/logs')).expect(200);
    assert.equal(logs.body.log_throttling.limit, 3, 'the log settings saved before are kept');
  });

  test('log throttling suppresses a repeated error after `limit` lines', async () => {
    const logFile = box.t.weir.context.log.file;
    for (let i = 0; i < 10; i++) box.t.weir.context.log.logger.error('marker-repeated-error');
    const count = readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes('marker-repeated-error')).length;
    assert.equal(count, 3);
  });

  test('logs/flush reopens the file, so a logrotate rename gets a new file', async () => {
    const logFile = box.t.weir.context.log.file;
    box.t.weir.context.log.logger.notice('marker-before-rotate');
    renameSync(logFile, `${logFile}.1`);
    await asAdmin(box.t.http.post('/maxscale/logs/flush')).expect(204);
    box.t.weir.context.log.logger.notice('marker-after-rotate');
    assert.ok(existsSync(logFile));
    assert.match(readFileSync(logFile, 'utf8'), /marker-after-rotate/);
    assert.doesNotMatch(readFileSync(logFile, 'utf8'), /marker-before-rotate/);
    assert.match(readFileSync(`${logFile}.1`, 'utf8'), /marker-before-rotate/);
    assert.ok((await asAdmin(box.t.http.get('/maxscale/logs')).expect(200)).body.last_flushed);
  });

  test('passwords never reach the log', async () => {
    await asAdmin(box.t.http.post('/services'))
      .send({ name: 'Secret-Service', router: 'readconnroute', user: 'u', password: 'hunter2-secret' })
      .expect(201);
    box.t.weir.context.log.logger.warning({ password: 'hunter2-secret' }, 'marker-redaction');
    const log = readFileSync(box.t.weir.context.log.file, 'utf8');
    assert.match(log, /marker-redaction/);
    assert.doesNotMatch(log, /hunter2-secret/);
  });

  test('no sessions exist until clients connect; unknown sessions are 404', async () => {
    assert.deepEqual((await asAdmin(box.t.http.get('/sessions')).expect(200)).body, []);
    await asAdmin(box.t.http.get('/sessions/1')).expect(404);
    await asAdmin(box.t.http.get('/sessions/1/connections')).expect(404);
    await asAdmin(box.t.http.delete('/sessions/1')).expect(404);
    const bad = await asAdmin(box.t.http.get('/sessions/abc')).expect(400);
    assert.equal(bad.body.error, 'Bad Request');
  });
});
