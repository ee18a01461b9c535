/**
 * mariadbmon against a real primary with two GTID replicas started by the harness.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createUser, startMariaDB, startReplicationTopology, type Topology } from '../harness/mariadb.ts';
import { asAdmin, removeDir, startTestWeir, type TestWeir } from '../harness/weir.ts';

const JSON_PATCH = 'application/json-patch+json';

function config(topo: Topology, interval = 200): string {
  const servers = [topo.primary, ...topo.replicas];
  return `
[maxscale]
admin_host=127.0.0.1
${servers
  .map(
    (s) => `
[${s.name}]
type=server
address=127.0.0.1
port=${s.port}
`,
  )
  .join('')}
[Cluster-Monitor]
type=monitor
module=mariadbmon
servers=${servers.map((s) => s.name).join(',')}
user=maxmon
password=mon-pw
monitor_interval=${interval}ms
connect_timeout=2s
read_timeout=2s
`;
}

describe('mariadbmon on a real primary/replica topology', () => {
  let topo: Topology;
  let t: TestWeir;
  const monitor = () => t.weir.context.monitors.get('Cluster-Monitor')!;
  const server = async (name: string) => (await asAdmin(t.http.get(`/servers/${name}`)).expect(200)).body;
  /** Waits (by monitor rounds, not time) until a server's state is what the test expects. */
  async function untilState(name: string, expected: string[], rounds = 50): Promise<void> {
    for (let i = 0; i < rounds; i++) {
      if (JSON.stringify((await server(name)).state) === JSON.stringify(expected)) return;
      await monitor().nextTick();
    }
    assert.deepEqual((await server(name)).state, expected, `${name} after ${rounds} rounds`);
  }

  before(async () => {
    topo = await startReplicationTopology(2);
    await createUser(topo.primary, 'maxmon', 'mon-pw', 'REPLICATION CLIENT, REPLICA MONITOR ON *.*');
    t = await startTestWeir({ config: config(topo) });
  });
  after(async () => {
    await t?.stop();
    if (t) removeDir(t.datadir);
    await topo?.destroy();
  });

  test('detects the topology: primary, replicas, ids, GTID positions and who replicates from whom', async () => {
    await untilState('db1', ['master', 'running']);
    await untilState('db2', ['slave', 'running']);
    await untilState('db3', ['slave', 'running']);
    const db1 = await server('db1');
    assert.equal(db1.server_id, 1);
    assert.equal(db1.read_only, false);
    assert.match(db1.version_string, /MariaDB/);
    assert.match(db1.gtid_binlog_pos, /^0-1-\d+$/);
    assert.equal(db1.last_event, 'master_up');
    const db2 = await server('db2');
    assert.equal(db2.replicates_from, '/servers/db1');
    assert.equal(db2.read_only, true);
    assert.equal(db2.replication_lag, 0);
    const mon = (await asAdmin(t.http.get('/monitors/Cluster-Monitor')).expect(200)).body;
    assert.ok(mon.ticks > 0);
  });

  test('stopped replication shows: the replica is only running', async () => {
    await topo.replicas[1]!.query('STOP SLAVE');
    await untilState('db3', ['running']);
    assert.equal((await server('db3')).last_event, 'lost_slave');
    await topo.replicas[1]!.query('START SLAVE');
    await untilState('db3', ['slave', 'running']);
  });

  test('a stopped replica is down within two intervals, and comes back as a replica', async () => {
    await topo.replicas[0]!.kill();
    await monitor().nextTick();
    await monitor().nextTick();
    assert.deepEqual((await server('db2')).state, ['down']);
    assert.equal((await server('db2')).last_event, 'slave_down');
    await topo.replicas[0]!.restart();
    await topo.replicas[0]!.query('START SLAVE');
    await untilState('db2', ['slave', 'running']);
  });

  test('maintenance shows beside the monitor flags and the monitor keeps watching', async () => {
    await asAdmin(t.http.patch('/servers/db2'))
      .type(JSON_PATCH)
      .send([{ op: 'add', path: '/state/-', value: 'maintenance' }])
      .expect(200);
    await monitor().nextTick();
    assert.deepEqual((await server('db2')).state, ['maintenance', 'slave', 'running']);
    await asAdmin(t.http.patch('/servers/db2'))
      .type(JSON_PATCH)
      .send([{ op: 'remove', path: '/state/0' }])
      .expect(200);
    assert.deepEqual((await server('db2')).state, ['slave', 'running']);
  });

  test('stop clears what only the monitor knew; start learns it again', async () => {
    await asAdmin(t.http.put('/monitors/Cluster-Monitor/stop')).expect(204);
    const ticks = (await asAdmin(t.http.get('/monitors/Cluster-Monitor')).expect(200)).body.ticks;
    assert.deepEqual((await server('db1')).state, []);
    // Nothing polls while stopped: the round counter stands still across a PATCH-triggered sync.
    await asAdmin(t.http.patch('/monitors/Cluster-Monitor'))
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/monitor_interval', value: 150 }])
      .expect(200);
    assert.equal((await asAdmin(t.http.get('/monitors/Cluster-Monitor')).expect(200)).body.ticks, ticks);
    await asAdmin(t.http.put('/monitors/Cluster-Monitor/start')).expect(204);
    await untilState('db1', ['master', 'running']);
  });

  test('state changes are logged as events', () => {
    const log = readFileSync(t.weir.context.log.file, 'utf8');
    assert.match(log, /Server changed state: db1\[127\.0\.0\.1:\d+\]: master_up/);
    assert.match(log, /Server changed state: db2\[127\.0\.0\.1:\d+\]: slave_down/);
  });

  test('wrong monitor credentials give auth_error', async () => {
    const lone = await startMariaDB({ name: 'lone' });
    try {
      await asAdmin(t.http.post('/servers')).send({ name: 'lone', address: '127.0.0.1', port: lone.port }).expect(201);
      await asAdmin(t.http.post('/monitors'))
        .send({
          name: 'Lone-Monitor',
          module: 'mariadbmon',
          user: 'nobody',
          password: 'wrong',
          servers: ['/servers/lone'],
          monitor_interval: 100,
        })
        .expect(201);
      const m = t.weir.context.monitors.get('Lone-Monitor')!;
      await m.nextTick();
      assert.deepEqual((await server('lone')).state, ['auth_error', 'running']);
      await asAdmin(t.http.patch('/monitors/Lone-Monitor'))
        .type(JSON_PATCH)
        .send([{ op: 'replace', path: '/servers', value: [] }])
        .expect(200);
      assert.deepEqual((await server('lone')).state, []);
      await asAdmin(t.http.delete('/monitors/Lone-Monitor')).expect(204);
    } finally {
      await lone.destroy();
    }
  });
});
