import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { asAdmin, useTestWeir } from '../harness/weir.ts';

const JSON_PATCH = 'application/json-patch+json';

describe('/services, listeners and sessions', () => {
  const box = useTestWeir();

  test('lists the configured service with router, links, counters and no password', async () => {
    const res = await asAdmin(box.t.http.get('/services')).expect(200);
    assert.equal(res.body.length, 1);
    const svc = res.body[0];
    assert.equal(svc.name, 'RW-Service');
    assert.equal(svc.router, 'readconnroute');
    assert.deepEqual(svc.router_options, ['master']);
    assert.equal(svc.state, 'started');
    assert.deepEqual(svc.servers, ['/servers/server1', '/servers/server2']);
    assert.deepEqual(svc.listeners, ['/services/RW-Service/listeners/RW-Listener']);
    assert.equal(svc.current_connections, 0);
    assert.equal(svc.password, undefined);
    assert.ok(!JSON.stringify(svc).includes('maxpw'));
  });

  test('reset-gtid is a readwritesplit command: 422 for another router, 404 for no service, 204 for readwritesplit', async () => {
    const refused = await asAdmin(box.t.http.post('/services/RW-Service/reset-gtid')).expect(422);
    assert.match(refused.body.description, /readwritesplit command.*readconnroute; nothing was changed/);
    await asAdmin(box.t.http.post('/services/Nosuch/reset-gtid')).expect(404);
    await asAdmin(box.t.http.post('/services'))
      .send({ name: 'Split-For-Gtid', router: 'readwritesplit', user: 'u', password: 'p' })
      .expect(201);
    await asAdmin(box.t.http.post('/services/Split-For-Gtid/reset-gtid')).expect(204);
    await asAdmin(box.t.http.delete('/services/Split-For-Gtid')).expect(204);
  });

  test('creates a service; links to missing servers or filters are a 422 and create nothing', async () => {
    const missing = await asAdmin(box.t.http.post('/services'))
      .send({ name: 'Bad', router: 'readconnroute', user: 'u', password: 'p', servers: ['/servers/nope'] })
      .expect(422);
    assert.match(missing.body.description, /no server named 'nope'/);
    const wrongKind = await asAdmin(box.t.http.post('/services'))
      .send({ name: 'Bad', router: 'readconnroute', user: 'u', password: 'p', servers: ['/filters/QLA'] })
      .expect(422);
    assert.match(wrongKind.body.description, /must be a link like \/servers\/NAME/);
    await asAdmin(box.t.http.get('/services/Bad')).expect(404);
    const res = await asAdmin(box.t.http.post('/services'))
      .send({
        name: 'Replica-Service',
        router: 'readconnroute',
        user: 'u',
        password: 'p',
        router_options: ['slave'],
        servers: ['/servers/server2'],
        filters: ['/filters/QLA'],
      })
      .expect(201);
    assert.equal(res.headers.location, '/services/Replica-Service');
    assert.deepEqual(res.body.filters, ['/filters/QLA']);
    const qla = await asAdmin(box.t.http.get('/filters/QLA')).expect(200);
    assert.deepEqual(qla.body.services, ['/services/Replica-Service']);
  });

  test('PATCH changes links, options and the write-only password', async () => {
    const res = await asAdmin(box.t.http.patch('/services/Replica-Service'))
      .type(JSON_PATCH)
      .send([
        { op: 'add', path: '/servers/-', value: '/servers/server1' },
        { op: 'replace', path: '/router_options', value: ['slave', 'running'] },
        { op: 'replace', path: '/password', value: 'n3w' },
        { op: 'replace', path: '/parameters/master_accept_reads', value: false },
      ])
      .expect(200);
    assert.deepEqual(res.body.servers, ['/servers/server2', '/servers/server1']);
    assert.deepEqual(res.body.router_options, ['slave', 'running']);
    assert.equal(res.body.parameters.master_accept_reads, false);
    assert.equal(box.t.weir.context.core.get('service', 'Replica-Service').params.password, 'n3w');
    const bad = await asAdmin(box.t.http.patch('/services/Replica-Service'))
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/router_options', value: ['fastest'] }])
      .expect(422);
    assert.equal(bad.body.error, 'Unprocessable Entity');
    const ro = await asAdmin(box.t.http.patch('/services/Replica-Service'))
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/router', value: 'readwritesplit' }])
      .expect(403);
    assert.match(ro.body.description, /Field \/router is not modifiable/);
  });

  test('stop and start a service: state, listener state, persisted', async () => {
    await asAdmin(box.t.http.put('/services/RW-Service/stop')).expect(204);
    let svc = await asAdmin(box.t.http.get('/services/RW-Service')).expect(200);
    assert.equal(svc.body.state, 'stopped');
    assert.equal(svc.body.started, null);
    const listener = await asAdmin(box.t.http.get('/services/RW-Service/listeners/RW-Listener')).expect(200);
    assert.equal(listener.body.state, 'stopped');
    box.t = await box.t.restart();
    svc = await asAdmin(box.t.http.get('/services/RW-Service')).expect(200);
    assert.equal(svc.body.state, 'stopped');
    await asAdmin(box.t.http.put('/services/RW-Service/start')).expect(204);
    svc = await asAdmin(box.t.http.get('/services/RW-Service')).expect(200);
    assert.equal(svc.body.state, 'started');
    assert.ok(svc.body.started);
    await asAdmin(box.t.http.put('/services/nope/start')).expect(404);
    await asAdmin(box.t.http.put('/services/nope/stop')).expect(404);
  });

  test('listeners: create, conflicting port 409, get, delete; a listener of another service is a 404', async () => {
    const res = await asAdmin(box.t.http.post('/services/Replica-Service/listeners'))
      .send({ name: 'Replica-Listener', address: '127.0.0.1', port: 4408 })
      .expect(201);
    assert.equal(res.headers.location, '/services/Replica-Service/listeners/Replica-Listener');
    assert.equal(res.body.service, '/services/Replica-Service');
    assert.equal(res.body.protocol, 'MariaDBClient');
    const clash = await asAdmin(box.t.http.post('/services/Replica-Service/listeners'))
      .send({ name: 'Other', address: '127.0.0.1', port: box.t.listenerPort })
      .expect(409);
    assert.match(clash.body.description, /RW-Listener/);
    await asAdmin(box.t.http.get('/services/RW-Service/listeners/Replica-Listener')).expect(404);
    const list = await asAdmin(box.t.http.get('/services/Replica-Service/listeners')).expect(200);
    assert.deepEqual(
      list.body.map((l: { name: string }) => l.name),
      ['Replica-Listener'],
    );
    await asAdmin(box.t.http.delete('/services/RW-Service/listeners/Replica-Listener')).expect(404);
    await asAdmin(box.t.http.delete('/services/Replica-Service/listeners/Replica-Listener')).expect(204);
    await asAdmin(box.t.http.get('/services/Replica-Service/listeners/Replica-Listener')).expect(404);
    await asAdmin(box.t.http.post('/services/nope/listeners')).send({ name: 'x', port: 5000 }).expect(404);
  });

  test('sessions of a service: empty until clients connect; closing them is a no-op', async () => {
    assert.deepEqual((await asAdmin(box.t.http.get('/services/RW-Service/sessions')).expect(200)).body, []);
    await asAdmin(box.t.http.delete('/services/RW-Service/sessions')).expect(204);
    await asAdmin(box.t.http.get('/services/nope/sessions')).expect(404);
  });

  test('a service with listeners is deleted only with force=yes, listeners included', async () => {
    const inUse = await asAdmin(box.t.http.delete('/services/RW-Service')).expect(409);
    assert.match(inUse.body.description, /listener 'RW-Listener'/);
    await asAdmin(box.t.http.delete('/services/RW-Service?force=yes')).expect(204);
    await asAdmin(box.t.http.get('/services/RW-Service')).expect(404);
    await asAdmin(box.t.http.get('/services/RW-Service/listeners')).expect(404);
    // The servers are free to go now that no service lists them... except Replica-Service's.
    await asAdmin(box.t.http.delete('/services/Replica-Service')).expect(204);
    box.t = await box.t.restart();
    assert.deepEqual((await asAdmin(box.t.http.get('/services')).expect(200)).body, []);
  });
});
