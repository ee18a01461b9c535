import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { asAdmin, useTestWeir } from '../harness/weir.ts';

const JSON_PATCH = 'application/json-patch+json';

describe('/monitors and /filters', () => {
  const box = useTestWeir();

  test('lists the monitor with timing in ms and s, servers and module parameters, no password', async () => {
    const res = await asAdmin(box.t.http.get('/monitors')).expect(200);
    const mon = res.body[0];
    assert.equal(mon.name, 'Cluster-Monitor');
    assert.equal(mon.monitor_interval, 1000);
    assert.equal(mon.connect_timeout, 3);
    assert.deepEqual(mon.servers, ['/servers/server1', '/servers/server2']);
    assert.equal(mon.parameters.failcount, 5);
    assert.equal(mon.password, undefined);
  });

  test('PATCH changes interval and parameters; a negative interval is refused and changes nothing', async () => {
    const res = await asAdmin(box.t.http.patch('/monitors/Cluster-Monitor'))
      .type(JSON_PATCH)
      .send([
        { op: 'replace', path: '/monitor_interval', value: 500 },
        { op: 'replace', path: '/parameters/auto_failover', value: true },
      ])
      .expect(200);
    assert.equal(res.body.monitor_interval, 500);
    assert.equal(res.body.parameters.auto_failover, true);
    const bad = await asAdmin(box.t.http.patch('/monitors/Cluster-Monitor'))
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/monitor_interval', value: -5 }])
      .expect(422);
    assert.ok(bad.body.errors.some((e: { path: string }) => e.path === '/monitor_interval'));
    assert.equal((await asAdmin(box.t.http.get('/monitors/Cluster-Monitor')).expect(200)).body.monitor_interval, 500);
  });

  test('stop and start a monitor', async () => {
    await asAdmin(box.t.http.put('/monitors/Cluster-Monitor/stop')).expect(204);
    assert.equal((await asAdmin(box.t.http.get('/monitors/Cluster-Monitor')).expect(200)).body.state, 'stopped');
    await asAdmin(box.t.http.put('/monitors/Cluster-Monitor/start')).expect(204);
    assert.equal((await asAdmin(box.t.http.get('/monitors/Cluster-Monitor')).expect(200)).body.state, 'running');
    await asAdmin(box.t.http.put('/monitors/nope/start')).expect(404);
  });

  test('a server can be watched by one monitor only (409); a monitor with servers cannot be deleted (409)', async () => {
    const clash = await asAdmin(box.t.http.post('/monitors'))
      .send({ name: 'Second', module: 'mariadbmon', user: 'u', password: 'p', servers: ['/servers/server1'] })
      .expect(409);
    assert.match(clash.body.description, /already monitored by 'Cluster-Monitor'/);
    const res = await asAdmin(box.t.http.post('/monitors'))
      .send({ name: 'Second', module: 'mariadbmon', user: 'u', password: 'p' })
      .expect(201);
    assert.equal(res.headers.location, '/monitors/Second');
    const inUse = await asAdmin(box.t.http.delete('/monitors/Cluster-Monitor')).expect(409);
    assert.match(inUse.body.description, /monitors server1, server2/);
    await asAdmin(box.t.http.delete('/monitors/Second')).expect(204);
    await asAdmin(box.t.http.get('/monitors/Second')).expect(404);
  });

  test('filters show every module parameter with its value and whether it is configurable', async () => {
    const res = await asAdmin(box.t.http.get('/filters')).expect(200);
    const qla = res.body[0];
    assert.equal(qla.module, 'qlafilter');
    assert.deepEqual(qla.parameters.filebase, { value: '/tmp/weir-qla', configurable: false });
    assert.deepEqual(qla.parameters.log_type, { value: ['session'], configurable: true });
    assert.deepEqual(qla.services, []);
  });

  test('creating a filter checks mandatory parameters and values (422); a good one is created', async () => {
    const missing = await asAdmin(box.t.http.post('/filters'))
      .send({ name: 'Rewrite', module: 'regexfilter', parameters: { match: 'a' } })
      .expect(422);
    assert.match(missing.body.description, /'replace' is mandatory/);
    const badRegex = await asAdmin(box.t.http.post('/filters'))
      .send({ name: 'Rewrite', module: 'regexfilter', parameters: { match: '(', replace: 'b' } })
      .expect(422);
    assert.match(badRegex.body.description, /'match' is not a valid regular expression/);
    // PCRE features a linear-time engine cannot run are refused by name, not run with backtracking.
    const lookahead = await asAdmin(box.t.http.post('/filters'))
      .send({ name: 'Rewrite', module: 'regexfilter', parameters: { match: 'from (?!t2)', replace: 'b' } })
      .expect(422);
    assert.match(
      lookahead.body.description,
      /Parameter 'match' uses lookahead \(\(\?= or \(\?!\), which Weir does not support/,
    );
    const patched = await asAdmin(box.t.http.post('/filters'))
      .send({ name: 'Rewrite', module: 'qlafilter', parameters: { filebase: '/tmp/weir-qla-x', exclude: '(\\w+)\\1' } })
      .expect(422);
    assert.match(patched.body.description, /Parameter 'exclude' uses a backreference/);
    const unknown = await asAdmin(box.t.http.post('/filters'))
      .send({ name: 'Rewrite', module: 'regexfilter', parameters: { match: 'a', replace: 'b', colour: 'red' } })
      .expect(422);
    assert.match(unknown.body.description, /'colour' is not a parameter of module regexfilter/);
    await asAdmin(box.t.http.get('/filters/Rewrite')).expect(404);
    const res = await asAdmin(box.t.http.post('/filters'))
      .send({ name: 'Rewrite', module: 'regexfilter', parameters: { match: 'from t1', replace: 'from t2' } })
      .expect(201);
    assert.equal(res.body.parameters.replace.value, 'from t2');
  });

  test('PATCH changes configurable parameters only (403 for others)', async () => {
    const res = await asAdmin(box.t.http.patch('/filters/QLA'))
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/parameters/log_type/value', value: ['unified'] }])
      .expect(200);
    assert.deepEqual(res.body.parameters.log_type.value, ['unified']);
    const ro = await asAdmin(box.t.http.patch('/filters/QLA'))
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/parameters/filebase/value', value: '/tmp/x' }])
      .expect(403);
    assert.match(ro.body.description, /\/parameters\/filebase\/value is not modifiable/);
    const bad = await asAdmin(box.t.http.patch('/filters/QLA'))
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/parameters/log_type/value', value: ['syslog'] }])
      .expect(422);
    assert.match(bad.body.description, /'syslog' is not one of session, unified, stdout/);
  });

  test('a filter in use cannot be deleted (409); an unused one can', async () => {
    await asAdmin(box.t.http.patch('/services/RW-Service'))
      .type(JSON_PATCH)
      .send([{ op: 'add', path: '/filters/-', value: '/filters/QLA' }])
      .expect(200);
    const inUse = await asAdmin(box.t.http.delete('/filters/QLA')).expect(409);
    assert.match(inUse.body.description, /service 'RW-Service'/);
    await asAdmin(box.t.http.delete('/filters/Rewrite')).expect(204);
    box.t = await box.t.restart();
    await asAdmin(box.t.http.get('/filters/Rewrite')).expect(404);
    assert.deepEqual((await asAdmin(box.t.http.get('/filters/QLA')).expect(200)).body.parameters.log_type.value, [
      'unified',
    ]);
    assert.equal((await asAdmin(box.t.http.get('/monitors/Cluster-Monitor')).expect(200)).body.monitor_interval, 500);
  });
});
