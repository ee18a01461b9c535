/**
 * What client generators send, read as meant: a JSON Patch as application/json, an RFC 7396
 * merge patch, an optional member sent as null, and lists sent as comma-separated strings.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN, useTestWeir } from '../harness/weir.ts';

describe('generator-friendly request bodies', () => {
  const box = useTestWeir();
  const as = <T extends { auth(u: string, p: string): T }>(r: T) => r.auth(ADMIN.user, ADMIN.password);
  const get = async (path: string) => (await as(box.t.http.get(path)).expect(200)).body;

  test('a JSON Patch sent as application/json is applied; an object sent so is a 415 naming merge patch', async () => {
    const res = await as(box.t.http.patch('/servers/server2'))
      .type('application/json')
      .send([{ op: 'replace', path: '/port', value: 3321 }])
      .expect(200);
    assert.equal(res.body.port, 3321);
    const refused = await as(box.t.http.patch('/servers/server2'))
      .type('application/json')
      .send({ port: 5 })
      .expect(415);
    assert.match(refused.body.description, /application\/merge-patch\+json/);
    assert.equal((await get('/servers/server2')).port, 3321);
    assert.match(
      (await as(box.t.http.get('/servers/server2'))).headers['accept-patch']!,
      /application\/merge-patch\+json/,
    );
  });

  test('application/merge-patch+json: members replaced, objects merged, null clears, same rules as JSON Patch', async () => {
    const res = await as(box.t.http.patch('/servers/server2'))
      .type('application/merge-patch+json')
      .send({ port: 3322, parameters: { rank: 'secondary' } })
      .expect(200);
    assert.equal(res.body.port, 3322);
    assert.equal(res.body.parameters.rank, 'secondary');
    assert.equal(
      res.body.parameters.priority,
      (await get('/servers/server1')).parameters.priority,
      'other parameters stay',
    );
    const svc = await as(box.t.http.patch('/services/RW-Service'))
      .type('application/merge-patch+json')
      .send({ version_string: '10.11.0-test' })
      .expect(200);
    assert.equal(svc.body.version_string, '10.11.0-test');
    const cleared = await as(box.t.http.patch('/services/RW-Service'))
      .type('application/merge-patch+json')
      .send({ version_string: null })
      .expect(200);
    assert.equal(cleared.body.version_string, null);
    const forbidden = await as(box.t.http.patch('/servers/server2'))
      .type('application/merge-patch+json')
      .send({ port: 1, name: 'other' })
      .expect(403);
    assert.match(forbidden.body.description, /\/name/);
    assert.equal((await get('/servers/server2')).port, 3322, 'all-or-nothing');
  });

  test('an optional member sent as null is absent', async () => {
    const res = await as(box.t.http.post('/servers'))
      .send({ name: 'nullport', address: '127.0.0.1', port: null })
      .expect(201);
    assert.equal(res.body.port, 3306);
    const api = await as(box.t.http.post('/api'))
      .send({ action: 'exec', command: 'version', execTimeout: null })
      .expect(200);
    assert.equal(api.body.state, 'SUCCEEDED', JSON.stringify(api.body));
    // A required member is still required.
    await as(box.t.http.post('/servers')).send({ name: null, address: '127.0.0.1' }).expect(400);
  });

  test('lists may be comma-separated strings, as configuration files write them', async () => {
    const res = await as(box.t.http.post('/services'))
      .send({
        name: 'Comma-Service',
        router: 'readconnroute',
        user: 'u',
        password: 'p',
        router_options: 'slave, master',
        servers: '/servers/server1,/servers/server2',
      })
      .expect(201);
    assert.deepEqual(res.body.router_options, ['slave', 'master']);
    assert.deepEqual(res.body.servers, ['/servers/server1', '/servers/server2']);
    const filter = await as(box.t.http.post('/filters'))
      .send({
        name: 'Comma-QLA',
        module: 'qlafilter',
        parameters: { filebase: '/tmp/weir-comma-qla', log_type: 'session,unified' },
      })
      .expect(201);
    assert.deepEqual(filter.body.parameters.log_type.value, ['session', 'unified']);
  });

  test('JSON Patch and merge-patch values may be comma-separated lists too', async () => {
    // A JSON Patch: the value's place in the resource says it is a list.
    const patched = await as(box.t.http.patch('/filters/QLA'))
      .type('application/json-patch+json')
      .send([{ op: 'replace', path: '/parameters/log_type/value', value: 'session, unified' }])
      .expect(200);
    assert.deepEqual(patched.body.parameters.log_type.value, ['session', 'unified']);
    const svc = await as(box.t.http.patch('/services/RW-Service'))
      .type('application/json')
      .send([{ op: 'replace', path: '/servers', value: '/servers/server2,/servers/server1' }])
      .expect(200);
    assert.deepEqual(svc.body.servers, ['/servers/server2', '/servers/server1']);
    // A merge patch, as a configuration file would write the same lists.
    const merged = await as(box.t.http.patch('/filters/QLA'))
      .type('application/merge-patch+json')
      .send({ parameters: { log_type: { value: 'unified,session' } } })
      .expect(200);
    assert.deepEqual(merged.body.parameters.log_type.value, ['unified', 'session']);
    const servers = await as(box.t.http.patch('/services/RW-Service'))
      .type('application/merge-patch+json')
      .send({ servers: '/servers/server1, /servers/server2' })
      .expect(200);
    assert.deepEqual(servers.body.servers, ['/servers/server1', '/servers/server2']);
    // A bad member of such a list is refused like the same list as an array, and changes nothing.
    const refused = await as(box.t.http.patch('/filters/QLA'))
      .type('application/json-patch+json')
      .send([{ op: 'replace', path: '/parameters/log_type/value', value: 'session,bogus' }])
      .expect(422);
    assert.match(refused.body.description, /log_type/);
    assert.deepEqual((await get('/filters/QLA')).parameters.log_type.value, ['unified', 'session']);
    // A string where the resource holds a string stays a string.
    const version = await as(box.t.http.patch('/services/RW-Service'))
      .type('application/json-patch+json')
      .send([{ op: 'replace', path: '/version_string', value: '10.11.0-a,b' }])
      .expect(200);
    assert.equal(version.body.version_string, '10.11.0-a,b');
  });
});
