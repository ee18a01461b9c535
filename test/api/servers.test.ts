import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN, useTestWeir } from '../harness/weir.ts';

const JSON_PATCH = 'application/json-patch+json';

describe('/servers', () => {
  const box = useTestWeir();
  const http = () => box.t.http;

  test('lists the configured servers with their links; unreachable servers are down with unknown facts', async () => {
    const res = await http().get('/servers').auth(ADMIN.user, ADMIN.password).expect(200);
    assert.deepEqual(
      res.body.map((s: { name: string }) => s.name),
      ['server1', 'server2'],
    );
    const s1 = res.body[0];
    assert.equal(s1.port, 1);
    assert.deepEqual(s1.services, ['/services/RW-Service']);
    assert.deepEqual(s1.monitors, ['/monitors/Cluster-Monitor']);
    assert.deepEqual(s1.state, ['down']);
    assert.equal(s1.last_event, 'server_down');
    assert.equal(s1.server_id, null);
    assert.equal(s1.replicates_from, null);
  });

  test('GET one server is case-insensitive and 404s an unknown name', async () => {
    const res = await http().get('/servers/SERVER1').auth(ADMIN.user, ADMIN.password).expect(200);
    assert.equal(res.body.name, 'server1');
    assert.match(res.headers['accept-patch']!, /application\/json-patch\+json/);
    const missing = await http().get('/servers/nope').auth(ADMIN.user, ADMIN.password).expect(404);
    assert.equal(missing.body.error, 'Not Found');
    assert.match(missing.body.description, /no server named 'nope'/);
  });

  test('creates a server with 201 and Location, persists it, and refuses a duplicate name', async () => {
    const res = await http()
      .post('/servers')
      .auth(ADMIN.user, ADMIN.password)
      .send({ name: 'db3', address: '127.0.0.1', port: 3310, parameters: { weight: 5 } })
      .expect(201);
    assert.equal(res.headers.location, '/servers/db3');
    assert.equal(res.body.parameters.weight, 5);
    assert.equal(res.body.parameters.rank, 'primary');
    const file = readFileSync(join(box.t.datadir, 'runtime', 'db3.cnf'), 'utf8');
    assert.match(file, /^\[db3\]$/m);
    assert.match(file, /^port=3310$/m);
    const dup = await http()
      .post('/servers')
      .auth(ADMIN.user, ADMIN.password)
      .send({ name: 'DB3', address: 'x' })
      .expect(409);
    assert.match(dup.body.description, /already used/);
    const sameAsService = await http()
      .post('/servers')
      .auth(ADMIN.user, ADMIN.password)
      .send({ name: 'RW-Service', address: 'x' })
      .expect(409);
    assert.match(sameAsService.body.description, /service 'RW-Service'/);
  });

  test('a create body that breaks the schema is a 400 listing the problem, and creates nothing', async () => {
    const res = await http()
      .post('/servers')
      .auth(ADMIN.user, ADMIN.password)
      .send({ name: 'db4', address: '127.0.0.1', port: 'abc' })
      .expect(400);
    assert.equal(res.body.error, 'Bad Request');
    assert.ok(res.body.errors.some((e: { path: string }) => e.path === '/port'));
    await http().get('/servers/db4').auth(ADMIN.user, ADMIN.password).expect(404);
  });

  test('PATCH changes address, port and custom parameters, persisted', async () => {
    const res = await http()
      .patch('/servers/server2')
      .auth(ADMIN.user, ADMIN.password)
      .type(JSON_PATCH)
      .send([
        { op: 'replace', path: '/port', value: 3307 },
        { op: 'add', path: '/parameters/weight', value: 3 },
      ])
      .expect(200);
    assert.equal(res.body.port, 3307);
    assert.equal(res.body.parameters.weight, 3);
    const file = readFileSync(join(box.t.datadir, 'runtime', 'server2.cnf'), 'utf8');
    assert.match(file, /^port=3307$/m);
    assert.match(file, /^weight=3$/m);
  });

  test('maintenance and draining are added and removed through /state', async () => {
    let res = await http()
      .patch('/servers/server1')
      .auth(ADMIN.user, ADMIN.password)
      .type(JSON_PATCH)
      .send([{ op: 'add', path: '/state/-', value: 'maintenance' }])
      .expect(200);
    assert.deepEqual(res.body.state, ['maintenance', 'down']);
    res = await http()
      .patch('/servers/server1')
      .auth(ADMIN.user, ADMIN.password)
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/state', value: ['draining', 'down'] }])
      .expect(200);
    assert.deepEqual(res.body.state, ['drained', 'down'], 'draining with no connections left shows as drained');
    res = await http()
      .patch('/servers/server1')
      .auth(ADMIN.user, ADMIN.password)
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/state', value: ['down'] }])
      .expect(200);
    assert.deepEqual(res.body.state, ['down']);
  });

  test('a monitor-owned state flag is a 403 and changes nothing', async () => {
    const before = await http().get('/servers/server1').auth(ADMIN.user, ADMIN.password).expect(200);
    const res = await http()
      .patch('/servers/server1')
      .auth(ADMIN.user, ADMIN.password)
      .type(JSON_PATCH)
      .send([
        { op: 'add', path: '/state/-', value: 'maintenance' },
        { op: 'add', path: '/state/-', value: 'master' },
      ])
      .expect(403);
    assert.match(res.body.description, /'master' is set by the monitor/);
    const afterRes = await http().get('/servers/server1').auth(ADMIN.user, ADMIN.password).expect(200);
    assert.deepEqual(afterRes.body, before.body);
  });

  test('a non-modifiable field is a 403 naming it; a wrong value a 422; nothing changes', async () => {
    const before = await http().get('/servers/server2').auth(ADMIN.user, ADMIN.password).expect(200);
    const ro = await http()
      .patch('/servers/server2')
      .auth(ADMIN.user, ADMIN.password)
      .type(JSON_PATCH)
      .send([
        { op: 'replace', path: '/port', value: 4000 },
        { op: 'replace', path: '/name', value: 'x' },
      ])
      .expect(403);
    assert.match(ro.body.description, /Field \/name is not modifiable/);
    const bad = await http()
      .patch('/servers/server2')
      .auth(ADMIN.user, ADMIN.password)
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/port', value: 70000 }])
      .expect(422);
    assert.ok(bad.body.errors.some((e: { path: string }) => e.path === '/port'));
    const wrongType = await http()
      .patch('/servers/server2')
      .auth(ADMIN.user, ADMIN.password)
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/port', value: 'abc' }])
      .expect(422);
    assert.ok(wrongType.body.errors.length >= 1);
    const afterRes = await http().get('/servers/server2').auth(ADMIN.user, ADMIN.password).expect(200);
    assert.deepEqual(afterRes.body, before.body);
  });

  test('deleting a server in use is a 409; an unused one is deleted and stays deleted', async () => {
    const inUse = await http().delete('/servers/server1').auth(ADMIN.user, ADMIN.password).expect(409);
    assert.match(inUse.body.description, /service 'RW-Service'/);
    await http()
      .post('/servers')
      .auth(ADMIN.user, ADMIN.password)
      .send({ name: 'gone', address: '127.0.0.1' })
      .expect(201);
    await http().delete('/servers/gone').auth(ADMIN.user, ADMIN.password).expect(204);
    await http().get('/servers/gone').auth(ADMIN.user, ADMIN.password).expect(404);
    await http().delete('/servers/gone').auth(ADMIN.user, ADMIN.password).expect(404);
  });

  test('a server has no backend connections until clients connect, and closing them is a no-op', async () => {
    const res = await http().get('/servers/server1/connections').auth(ADMIN.user, ADMIN.password).expect(200);
    assert.deepEqual(res.body, []);
    await http().delete('/servers/server1/connections').auth(ADMIN.user, ADMIN.password).expect(204);
    await http().get('/servers/nope/connections').auth(ADMIN.user, ADMIN.password).expect(404);
    await http().delete('/servers/nope/connections').auth(ADMIN.user, ADMIN.password).expect(404);
  });

  test('changes survive a restart', async () => {
    box.t = await box.t.restart();
    const res = await box.t.http.get('/servers').auth(ADMIN.user, ADMIN.password).expect(200);
    const names = res.body.map((s: { name: string }) => s.name);
    assert.ok(names.includes('db3'));
    assert.ok(!names.includes('gone'));
    const s2 = res.body.find((s: { name: string }) => s.name === 'server2');
    assert.equal(s2.port, 3307);
    assert.equal(s2.parameters.weight, 3);
  });
});
