/**
 * readwritesplit sessions across changes of the primary (readwritesplit reference §6.4, scenario
 * 46): a switchover while a session is idle moves its writes to the new primary, where its
 * session state (a user variable) is already in place, without the client reconnecting.
 * fail_instantly closes a session whose primary breaks. Waits are on monitor rounds.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import mysql, { type Connection } from 'mysql2/promise';
import { createUser, freePort, startReplicationTopology, waitFor, type Topology } from '../harness/mariadb.ts';
import { asAdmin, removeDir, startTestWeir, type TestWeir } from '../harness/weir.ts';
import { CLUSTER_ADMIN, clusterConfig, createClusterAdmin } from '../harness/config.ts';

function config(topo: Topology, ports: { rws: number; instant: number }): string {
  const servers = [topo.primary, ...topo.replicas].map((s) => s.name).join(',');
  const service = (name: string, port: number, extra = '') =>
    `[${name}]\ntype=service\nrouter=readwritesplit\nservers=${servers}\n` +
    `user=${CLUSTER_ADMIN.user}\npassword=${CLUSTER_ADMIN.password}\n${extra}\n[${name}-Listener]\ntype=listener\nservice=${name}\naddress=127.0.0.1\nport=${port}\n\n`;
  return (
    clusterConfig(topo, { intervalMs: 200, failcount: 100, readTimeout: '2s', extra: 'switchover_timeout=30s\n' }) +
    service('RWS', ports.rws) +
    service('Instant', ports.instant, 'master_failure_mode=fail_instantly\n')
  );
}

describe('readwritesplit when the primary changes', () => {
  let topo: Topology;
  let t: TestWeir;
  let ports: { rws: number; instant: number };
  const open: Connection[] = [];
  const monitor = () => t.weir.context.monitors.get('Cluster')!;
  const flags = (name: string) => t.weir.context.core.get('server', name).runtime.facts.flags;
  async function untilFlags(name: string, ...wanted: string[]): Promise<void> {
    for (let i = 0; i < 200; i++) {
      if (wanted.every((f) => flags(name).includes(f))) return;
      await monitor().nextTick();
    }
    assert.fail(`${name} never had ${wanted}: ${flags(name)}`);
  }
  const client = async (port: number) => {
    const c = await mysql.createConnection({
      host: '127.0.0.1',
      port,
      user: 'app',
      password: 'app-pw',
      database: 'shop',
    });
    open.push(c);
    return c;
  };

  before(async () => {
    topo = await startReplicationTopology(2);
    await createClusterAdmin(topo);
    await createUser(topo.primary, 'app', 'app-pw', 'ALL PRIVILEGES ON *.*');
    await topo.primary.query('CREATE DATABASE shop');
    await topo.primary.query('CREATE TABLE shop.orders (id INT AUTO_INCREMENT PRIMARY KEY, note TEXT)');
    ports = { rws: await freePort(), instant: await freePort() };
    t = await startTestWeir({ config: config(topo, ports) });
    await untilFlags('db1', 'master', 'running');
    await untilFlags('db2', 'slave', 'running');
    await untilFlags('db3', 'slave', 'running');
  });
  after(async () => {
    // destroy() returns nothing to await: wait for each client socket to close before Weir stops.
    await Promise.all(open.map(destroyed));
    await t?.stop();
    if (t) removeDir(t.datadir);
    await topo?.destroy();
  });

  test('46: a switchover while a session is idle: its next write goes to the new primary, which has its session state', async () => {
    const c = await client(ports.rws);
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
    const c = await client(ports.instant);
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

/** Destroys a client connection and resolves once its socket has closed. */
function destroyed(c: Connection): Promise<unknown> {
  const socket = (c as unknown as { connection: { stream: Socket } }).connection.stream;
  const closed = socket.closed ? Promise.resolve() : once(socket, 'close');
  c.destroy();
  return closed;
}
