/**
 * readwritesplit's connection_keepalive and reuse_prepared_statements: published with the
 * module, checked when a service is created or changed (422 naming the parameter, nothing
 * changed), stored when valid.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { asAdmin, useTestWeir } from '../harness/weir.ts';

const JSON_PATCH = 'application/json-patch+json';

describe('readwritesplit parameters connection_keepalive and reuse_prepared_statements', () => {
  const box = useTestWeir();

  test('published by the module with their defaults', async () => {
    const res = await asAdmin(box.t.http.get('/maxscale/modules/readwritesplit')).expect(200);
    const param = (name: string) => res.body.parameters.find((p: { name: string }) => p.name === name);
    assert.deepEqual([param('connection_keepalive').type, param('connection_keepalive').default], ['duration', 300]);
    assert.deepEqual(
      [param('reuse_prepared_statements').type, param('reuse_prepared_statements').default],
      ['bool', false],
    );
  });

  test('bad values are a 422 naming the parameter and change nothing; good ones are stored', async () => {
    await asAdmin(box.t.http.post('/services'))
      .send({
        name: 'Split',
        router: 'readwritesplit',
        user: 'u',
        password: 'p',
        servers: ['/servers/server1'],
        parameters: { connection_keepalive: 60, reuse_prepared_statements: true },
      })
      .expect(201);
    for (const [key, value] of [
      ['connection_keepalive', 'soon'],
      ['connection_keepalive', -5],
      ['reuse_prepared_statements', 'perhaps'],
    ] as const) {
      const bad = await asAdmin(box.t.http.patch('/services/Split'))
        .type(JSON_PATCH)
        .send([{ op: 'replace', path: `/parameters/${key}`, value }])
        .expect(422);
      assert.match(JSON.stringify(bad.body), new RegExp(key));
    }
    let svc = await asAdmin(box.t.http.get('/services/Split')).expect(200);
    assert.deepEqual(
      [svc.body.parameters.connection_keepalive, svc.body.parameters.reuse_prepared_statements],
      [60, true],
    );
    await asAdmin(box.t.http.patch('/services/Split'))
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/parameters/connection_keepalive', value: 0 }])
      .expect(200);
    svc = await asAdmin(box.t.http.get('/services/Split')).expect(200);
    assert.equal(svc.body.parameters.connection_keepalive, 0);
  });
});
