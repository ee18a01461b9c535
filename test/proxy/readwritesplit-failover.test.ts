/**
 * readwritesplit sessions across changes of the primary (readwritesplit reference §6.4, scenario
 * 46): a switchover while a session is idle moves its writes to the new primary, where its
 * session state (a user variable) is already in place, without the client reconnecting.
 * fail_instantly closes a session whose primary breaks. Waits are on monitor rounds.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor, type Topology } from '../harness/mariadb.ts';
import { asAdmin, type TestWeir } from '../harness/weir.ts';
import { startRwsCluster, type RwsCluster } from '../harness/rws-cluster.ts';

describe('readwritesplit when the primary changes', () => {
  let k: RwsCluster;
  let topo: Topology;
  let t: TestWeir;
  const monitor = () => t.weir.context.monitors.get('Cluster')!;
  const flags = (name: string) => t.weir.context.core.get('server', name).runtime.facts.flags;
  async function untilFlags(name: string, ...wanted: string[]): Promise<void> {
    for (let i = 0; i < 200; i++) {
      if (wanted.every((f) => flags(name).includes(f))) return;
      await monitor().nextTick();
    }
    assert.fail(`${name} never had ${wanted}: ${flags(name)}`);
  }

  before(async () => {
    k = await startRwsCluster({
      cluster: { failcount: 100, readTimeout: '2s', extra: 'switchover_timeout=30s\n' },
      database: 'shop',
      schema: ['CREATE DATABASE shop', 'CREATE TABLE shop.orders (id INT AUTO_INCREMENT PRIMARY KEY, note TEXT)'],
      services: { RWS: '', Instant: 'master_failure_mode=fail_instantly\n' },
    });
    ({ topo, t } = k);
  });
  after(async () => {
    await k?.close();
  });

  test('46: a switchover while a session is idle: its next write goes to the new primary, which has its session state', async () => {
    const c = await k.client('RWS');
    await c.query('SET @a = 1');
    await c.query("INSERT INTO orders (note) VALUES ('before')");
    const [[before]] = (await c.query('SELECT @@server_id AS id FROM orders LIMIT 1 FOR UPDATE')) as any;
    assert.equal(Number(before.id), 1);
    await asAdmin(t.http.post('/monitors/Cluster/switchover')).send({ new_primary: 'db2' }).expect(200);
    await untilFlags('db2', 'master');
    await untilFlags('db1', 'slave');
    const [res] = (await c.query("INSERT INTO orders (note) VALUES ('after')")) as any;
    assert.ok(res.insertId > 0);
    await c.query('BEGIN');
    const [[row]] = (await c.query('SELECT @a AS a, @@server_id AS id')) as any;
    await c.query('COMMIT');
    assert.deepEqual([Number(row.a), Number(row.id)], [1, 2]);
    const [[stored]] = (await c.query(
      "SELECT COUNT(*) AS n, @@server_id AS id FROM orders WHERE note = 'after' FOR UPDATE",
    )) as any;
    assert.deepEqual([Number(stored.n), Number(stored.id)], [1, 2]);
    // Reads still go to replicas (now db1 and db3).
    const [[read]] = (await c.query('SELECT @@server_id AS id')) as any;
    assert.notEqual(Number(read.id), 2);
  });

  test('45: fail_instantly: a session whose primary connection breaks is closed at once', async () => {
    const c = await k.client('Instant');
    const [[p]] = (await c.query('SELECT @@server_id AS id FROM orders LIMIT 1 FOR UPDATE')) as any;
    const primary = [topo.primary, ...topo.replicas].find((s) => s.name === `db${Number(p.id)}`)!;
    const threads = (await primary.query("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'app'")) as Array<{
      ID: number;
    }>;
    const closed = new Promise<void>((resolve) => c.once('error', () => resolve()).once('end', () => resolve()));
    for (const th of threads) await primary.query(`KILL ${th.ID}`);
    await closed;
    await waitFor('the session to be gone', async () =>
      (await asAdmin(t.http.get('/sessions')).expect(200)).body.every((s: any) => !s.service.endsWith('/Instant')),
    );
  });
});
