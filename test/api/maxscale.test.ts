import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, renameSync } from 'node:fs';
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
