import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN, useTestWeir } from '../harness/weir.ts';
import { FREE_FAILURES } from '../../src/core/login-throttle.ts';

const JSON_PATCH = 'application/json-patch+json';

describe('/users and authentication', () => {
  const box = useTestWeir();

  test('no credentials or wrong ones are a 401 with WWW-Authenticate', async () => {
    const none = await box.t.http.get('/servers').expect(401);
    assert.equal(none.headers['www-authenticate'], 'Basic realm="weir"');
    assert.equal(none.body.error, 'Unauthorized');
    const wrong = await box.t.http.get('/servers').auth(ADMIN.user, 'nope').expect(401);
    assert.equal(wrong.headers['www-authenticate'], 'Basic realm="weir"');
  });

  test('the spec and Swagger UI are public', async () => {
    const spec = await box.t.http.get('/openapi.json').expect(200);
    assert.equal(spec.body.openapi, '3.1.0');
    const yaml = await box.t.http.get('/openapi.yaml').expect(200);
    assert.match(yaml.text, /^openapi: 3\.1\.0/m);
    const docs = await box.t.http.get('/docs/').expect(200);
    assert.match(docs.text, /swagger-ui/i);
  });

  test('the default admin exists on first start, and passwords are stored as salted scrypt hashes', async () => {
    const res = await box.t.http.get('/users').auth(ADMIN.user, ADMIN.password).expect(200);
    assert.deepEqual(
      res.body.map((u: { name: string; role: string }) => [u.name, u.role]),
      [['admin', 'admin']],
    );
    assert.ok(!JSON.stringify(res.body).includes('mariadb'));
    const stored = JSON.parse(readFileSync(join(box.t.datadir, 'users.json'), 'utf8'));
    assert.equal(stored[0].name, 'admin');
    assert.ok(stored[0].salt && stored[0].hash);
    assert.ok(!readFileSync(join(box.t.datadir, 'users.json'), 'utf8').includes('mariadb'));
  });

  test('POST creates a user (201, Location), PUT creates one (204); duplicates are 409; bad names 400', async () => {
    const res = await box.t.http
      .post('/users')
      .auth(ADMIN.user, ADMIN.password)
      .send({ name: 'reader', password: 'r3ad' })
      .expect(201);
    assert.equal(res.headers.location, '/users/reader');
    assert.equal(res.body.role, 'basic');
    await box.t.http
      .put('/users')
      .auth(ADMIN.user, ADMIN.password)
      .send({ name: 'ops', password: 'o9s', role: 'admin' })
      .expect(204);
    assert.equal((await box.t.http.get('/users/ops').auth(ADMIN.user, ADMIN.password).expect(200)).body.role, 'admin');
    await box.t.http
      .post('/users')
      .auth(ADMIN.user, ADMIN.password)
      .send({ name: 'reader', password: 'x' })
      .expect(409);
    const bad = await box.t.http
      .post('/users')
      .auth(ADMIN.user, ADMIN.password)
      .send({ name: 'bad name!', password: 'x' })
      .expect(400);
    assert.ok(bad.body.errors.some((e: { path: string }) => e.path === '/name'));
    await box.t.http.get('/users/badname').auth(ADMIN.user, ADMIN.password).expect(404);
  });

  test('a basic user may read but every write is a 403, changing nothing', async () => {
    await box.t.http.get('/servers').auth('reader', 'r3ad').expect(200);
    const res = await box.t.http
      .patch('/servers/server1')
      .auth('reader', 'r3ad')
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/port', value: 9 }])
      .expect(403);
    assert.match(res.body.description, /basic role/);
    await box.t.http
      .post('/users')
      .auth('reader', 'r3ad')
      .send({ name: 'evil', password: 'x', role: 'admin' })
      .expect(403);
    await box.t.http.delete('/users/admin').auth('reader', 'r3ad').expect(403);
    assert.equal((await box.t.http.get('/servers/server1').auth('reader', 'r3ad').expect(200)).body.port, 1);
  });

  test('PATCH changes a password (old one stops working) and a role; the password never shows', async () => {
    const res = await box.t.http
      .patch('/users/reader')
      .auth(ADMIN.user, ADMIN.password)
      .type(JSON_PATCH)
      .send([
        { op: 'replace', path: '/password', value: 'n3w' },
        { op: 'replace', path: '/role', value: 'admin' },
      ])
      .expect(200);
    assert.equal(res.body.role, 'admin');
    assert.equal(res.body.password, undefined);
    await box.t.http.get('/servers').auth('reader', 'r3ad').expect(401);
    await box.t.http.get('/servers').auth('reader', 'n3w').expect(200);
    // A test against the password cannot reveal it.
    await box.t.http
      .patch('/users/reader')
      .auth(ADMIN.user, ADMIN.password)
      .type(JSON_PATCH)
      .send([{ op: 'test', path: '/password', value: 'n3w' }])
      .expect(409);
    await box.t.http
      .patch('/users/reader')
      .auth(ADMIN.user, ADMIN.password)
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/name', value: 'other' }])
      .expect(403);
  });

  test('the last admin can be neither deleted nor demoted (409)', async () => {
    await box.t.http.delete('/users/reader').auth(ADMIN.user, ADMIN.password).expect(204);
    await box.t.http.delete('/users/ops').auth(ADMIN.user, ADMIN.password).expect(204);
    const del = await box.t.http.delete('/users/admin').auth(ADMIN.user, ADMIN.password).expect(409);
    assert.match(del.body.description, /last admin/);
    await box.t.http
      .patch('/users/admin')
      .auth(ADMIN.user, ADMIN.password)
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/role', value: 'basic' }])
      .expect(409);
    await box.t.http.get('/users/admin').auth(ADMIN.user, ADMIN.password).expect(200);
    await box.t.http.delete('/users/nobody').auth(ADMIN.user, ADMIN.password).expect(404);
  });

  test('users survive a restart', async () => {
    await box.t.http
      .post('/users')
      .auth(ADMIN.user, ADMIN.password)
      .send({ name: 'keeper', password: 'k33p' })
      .expect(201);
    box.t = await box.t.restart();
    await box.t.http.get('/servers').auth('keeper', 'k33p').expect(200);
  });

  test('repeated failed logins from one address are slowed down; credentials verified a moment ago are not', async () => {
    const delay = box.t.weir.context.globals.admin_auth_failure_delay;
    await box.t.http.get('/servers').auth(ADMIN.user, ADMIN.password).expect(200);
    for (let i = 0; i < FREE_FAILURES - 1; i++) await box.t.http.get('/servers').auth('admin', 'wrong').expect(401);
    // Attempts are spaced: the sixth starts at least `delay` after the fifth started.
    const fifthSent = Date.now();
    await box.t.http.get('/servers').auth('admin', 'wrong').expect(401);
    await box.t.http.get('/servers').auth('admin', 'wrong').expect(401);
    assert.ok(
      Date.now() - fifthSent >= delay,
      `the attempt after ${FREE_FAILURES} failures started at least ${delay} ms after the one before`,
    );
    // Recognised from the cache of verified credentials: no slot, no scrypt.
    await box.t.http.get('/servers').auth(ADMIN.user, ADMIN.password).expect(200);
  });
});
