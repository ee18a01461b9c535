import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN, useTestWeir } from '../harness/weir.ts';

const JSON_PATCH = 'application/json-patch+json';

describe('conventions of the contract', () => {
  const box = useTestWeir();
  const get = (path: string) => box.t.http.get(path).auth(ADMIN.user, ADMIN.password);

  test('/v1 is an alias of every path', async () => {
    const plain = await get('/servers/server1').expect(200);
    const v1 = await get('/v1/servers/server1').expect(200);
    assert.deepEqual(v1.body, plain.body);
    await box.t.http
      .patch('/v1/servers/server2')
      .auth(ADMIN.user, ADMIN.password)
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/address', value: 'db.example' }])
      .expect(200);
    assert.equal((await get('/servers/server2').expect(200)).body.address, 'db.example');
  });

  test('fields returns only the named fields, dotted paths included', async () => {
    const res = await get('/servers?fields=name,statistics.connections').expect(200);
    assert.deepEqual(res.body, [
      { name: 'server1', statistics: { connections: 0 } },
      { name: 'server2', statistics: { connections: 0 } },
    ]);
    const one = await get('/monitors/Cluster-Monitor?fields=parameters.failcount').expect(200);
    assert.deepEqual(one.body, { parameters: { failcount: 5 } });
  });

  test('an unknown field is a 400 that lists the valid names', async () => {
    const res = await get('/servers?fields=name,colour').expect(400);
    assert.match(res.body.description, /Unknown field 'colour'/);
    assert.match(res.body.description, /valid fields are .*address/);
  });

  test('range slices collections; an end past the end returns what exists; bad ranges are 400', async () => {
    assert.deepEqual((await get('/servers?range=1-1&fields=name').expect(200)).body, [{ name: 'server2' }]);
    assert.deepEqual((await get('/servers?range=0-99&fields=name').expect(200)).body, [
      { name: 'server1' },
      { name: 'server2' },
    ]);
    assert.deepEqual((await get('/servers?range=5-9').expect(200)).body, []);
    assert.match((await get('/servers?range=3-1').expect(400)).body.description, /ends before it starts/);
    assert.match((await get('/servers?range=x').expect(400)).body.description, /START-END/);
  });

  test('ETag and Last-Modified on every resource; If-None-Match and If-Modified-Since give 304', async () => {
    const res = await get('/services/RW-Service').expect(200);
    const etag = res.headers.etag!;
    assert.match(etag, /^"[0-9a-f]{40}"$/);
    assert.ok(res.headers['last-modified']!);
    const cached = await get('/services/RW-Service').set('If-None-Match', etag!).expect(304);
    assert.equal(cached.text ?? '', '');
    await get('/services/RW-Service').set('If-Modified-Since', res.headers['last-modified']!).expect(304);
    await get('/services/RW-Service').set('If-None-Match', '"stale"').expect(200);
  });

  test('the ETag changes when the resource changes', async () => {
    const first = (await get('/services/RW-Service').expect(200)).headers.etag;
    await box.t.http
      .patch('/services/RW-Service')
      .auth(ADMIN.user, ADMIN.password)
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/max_connections', value: 10 }])
      .expect(200);
    const second = (await get('/services/RW-Service').expect(200)).headers.etag;
    assert.notEqual(first, second);
  });

  test('a stale If-Match is a 412 and changes nothing; a current one lets the write through', async () => {
    const current = await get('/services/RW-Service').expect(200);
    const stale = await box.t.http
      .patch('/services/RW-Service')
      .auth(ADMIN.user, ADMIN.password)
      .type(JSON_PATCH)
      .set('If-Match', '"0000000000000000000000000000000000000000"')
      .send([{ op: 'replace', path: '/max_connections', value: 99 }])
      .expect(412);
    assert.equal(stale.body.error, 'Precondition Failed');
    assert.equal((await get('/services/RW-Service').expect(200)).body.max_connections, current.body.max_connections);
    await box.t.http
      .patch('/services/RW-Service')
      .auth(ADMIN.user, ADMIN.password)
      .type(JSON_PATCH)
      .set('If-Match', current.headers.etag!)
      .send([{ op: 'replace', path: '/max_connections', value: 99 }])
      .expect(200);
    // Preconditions also guard actions (start/stop) and deletes.
    await box.t.http
      .put('/services/RW-Service/stop')
      .auth(ADMIN.user, ADMIN.password)
      .set('If-Match', current.headers.etag!)
      .expect(412);
    assert.equal((await get('/services/RW-Service').expect(200)).body.state, 'started');
  });

  test('If-Unmodified-Since older than the last change is a 412', async () => {
    const res = await box.t.http
      .put('/monitors/Cluster-Monitor/stop')
      .auth(ADMIN.user, ADMIN.password)
      .set('If-Unmodified-Since', 'Thu, 01 Jan 1970 00:00:00 GMT')
      .expect(412);
    assert.match(res.body.description, /after If-Unmodified-Since/);
    assert.equal((await get('/monitors/Cluster-Monitor').expect(200)).body.state, 'running');
  });

  test('an unsupported method is a 405 with Allow', async () => {
    const res = await box.t.http.post('/servers/server1').auth(ADMIN.user, ADMIN.password).send({}).expect(405);
    assert.equal(res.headers.allow, 'GET, PATCH, DELETE, HEAD, OPTIONS');
    assert.equal(res.body.error, 'Method Not Allowed');
    assert.match(res.body.description, /does not support POST/);
    assert.equal((await get('/servers').expect(200)).headers.allow, 'GET, POST, HEAD, OPTIONS');
  });

  test('OPTIONS answers with Allow; HEAD answers like GET without a body', async () => {
    const opt = await box.t.http.options('/services/RW-Service/stop').auth(ADMIN.user, ADMIN.password).expect(204);
    assert.equal(opt.headers.allow, 'PUT, OPTIONS');
    const head = await box.t.http.head('/servers').auth(ADMIN.user, ADMIN.password).expect(200);
    assert.ok(head.headers.etag);
    assert.equal(head.text, undefined);
  });

  test('X-HTTP-Method-Override lets a POST carry PATCH or DELETE', async () => {
    await box.t.http.post('/servers').auth(ADMIN.user, ADMIN.password).send({ name: 'tmp1', address: 'h' }).expect(201);
    await box.t.http
      .post('/servers/tmp1')
      .auth(ADMIN.user, ADMIN.password)
      .set('X-HTTP-Method-Override', 'PATCH')
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/port', value: 3999 }])
      .expect(200);
    assert.equal((await get('/servers/tmp1').expect(200)).body.port, 3999);
    await box.t.http
      .post('/servers/tmp1')
      .auth(ADMIN.user, ADMIN.password)
      .set('X-HTTP-Method-Override', 'DELETE')
      .expect(204);
    await get('/servers/tmp1').expect(404);
    await box.t.http
      .post('/servers')
      .auth(ADMIN.user, ADMIN.password)
      .set('X-HTTP-Method-Override', 'TRACE')
      .send({})
      .expect(400);
  });

  test('an unknown path is a 404 in the error format', async () => {
    const res = await get('/nothing/here').expect(404);
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(res.body.error, 'Not Found');
    assert.match(res.body.description, /no resource at \/nothing\/here/);
  });

  test('a body that is not JSON is a 400 and changes nothing', async () => {
    const res = await box.t.http
      .post('/servers')
      .auth(ADMIN.user, ADMIN.password)
      .set('Content-Type', 'application/json')
      .send('{"name": "x", ')
      .expect(400);
    assert.match(res.body.description, /not valid JSON/);
    const patch = await box.t.http
      .patch('/servers/server1')
      .auth(ADMIN.user, ADMIN.password)
      .set('Content-Type', JSON_PATCH)
      .send('[{"op": ')
      .expect(400);
    assert.match(patch.body.description, /not valid JSON/);
    await get('/servers/x').expect(404);
  });

  test('PATCH with another content type is a 415; a merge-style body is rejected', async () => {
    const res = await box.t.http
      .patch('/servers/server1')
      .auth(ADMIN.user, ADMIN.password)
      .type('application/json')
      .send({ port: 5 })
      .expect(415);
    assert.equal(res.body.error, 'Unsupported Media Type');
    assert.notEqual((await get('/servers/server1').expect(200)).body.port, 5);
  });

  test("the design's application/json-patch media type is accepted too", async () => {
    await box.t.http
      .patch('/servers/server1')
      .auth(ADMIN.user, ADMIN.password)
      .set('Content-Type', 'application/json-patch')
      .send(JSON.stringify([{ op: 'test', path: '/name', value: 'server1' }]))
      .expect(200);
  });

  test('JSON Patch: all-or-nothing, test failures are 409, move/copy are 400, unresolvable paths 422', async () => {
    const before = (await get('/servers/server1').expect(200)).body;
    const failedTest = await box.t.http
      .patch('/servers/server1')
      .auth(ADMIN.user, ADMIN.password)
      .type(JSON_PATCH)
      .send([
        { op: 'replace', path: '/port', value: 4444 },
        { op: 'test', path: '/address', value: 'elsewhere' },
      ])
      .expect(409);
    assert.match(failedTest.body.description, /test of operation 2/);
    const move = await box.t.http
      .patch('/servers/server1')
      .auth(ADMIN.user, ADMIN.password)
      .type(JSON_PATCH)
      .send([{ op: 'move', from: '/port', path: '/parameters/p' }])
      .expect(400);
    assert.equal(move.body.error, 'Bad Request');
    const unresolvable = await box.t.http
      .patch('/servers/server1')
      .auth(ADMIN.user, ADMIN.password)
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/parameters/none/deeper', value: 1 }])
      .expect(422);
    assert.match(unresolvable.body.description, /cannot be applied/);
    const notArray = await box.t.http
      .patch('/servers/server1')
      .auth(ADMIN.user, ADMIN.password)
      .type(JSON_PATCH)
      .send({ op: 'replace', path: '/port', value: 1 })
      .expect(400);
    assert.equal(notArray.body.error, 'Bad Request');
    assert.deepEqual((await get('/servers/server1').expect(200)).body, before);
  });

  test('a body larger than 1 MiB is a 413', async () => {
    const res = await box.t.http
      .post('/servers')
      .auth(ADMIN.user, ADMIN.password)
      .type('application/json')
      .send(JSON.stringify({ name: 'big', address: 'x'.repeat(1_100_000) }))
      .expect(413);
    assert.equal(res.body.error, 'Payload Too Large');
  });

  test('unknown query parameters are a 400', async () => {
    const res = await get('/servers?colour=blue').expect(400);
    assert.equal(res.body.error, 'Bad Request');
  });
});
