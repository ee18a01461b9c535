/**
 * Configuration sync with three Weir processes against a GTID primary and two replicas:
 * a change is committed on the cluster's primary before it is answered, the others apply
 * it, concurrent changes are single-writer (one wins, the rest get 409 and converge),
 * crashes before and after the commit lose no acknowledged change, a new instance
 * catches up, and with the primary down changes are refused while reads keep working.
 * Every wait is on a state read through the API or the database, never a guessed sleep.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { startReplicationTopology, waitFor, type Topology } from '../harness/mariadb.ts';
import { CLUSTER_ADMIN } from '../harness/config.ts';
import { ADMIN, tempDir } from '../harness/weir.ts';
import {
  maxConnections,
  waitReady,
  prepareFleetCluster,
  setMaxConnections,
  startNode,
  stopNodes,
  waitConverged,
  type WeirNode,
} from '../harness/fleet.ts';

describe('config sync: three Weirs, one configuration', () => {
  let topo: Topology;
  let a: WeirNode;
  let b: WeirNode;
  let c: WeirNode;
  const extra: WeirNode[] = [];
  const all = () => [a, b, c];
  const clusterRow = async () =>
    (
      await topo.primary.query(
        `SELECT version, origin, JSON_EXTRACT(config, '$.version') AS doc_version FROM mysql.maxscale_config WHERE cluster='Cluster'`,
      )
    )[0];

  before(async () => {
    topo = await startReplicationTopology(2);
    await prepareFleetCluster(topo);
    [a, b, c] = (await Promise.all(['weir-a', 'weir-b', 'weir-c'].map((n) => startNode(n, topo)))) as [
      WeirNode,
      WeirNode,
      WeirNode,
    ];
  });
  after(async () => {
    await stopNodes([a, b, c, ...extra].filter(Boolean));
    await topo?.destroy();
  });

  test('before any change every node is at version 0', async () => {
    for (const n of all()) {
      const s = await n.sync();
      assert.equal(s.version, 0);
      assert.equal(s.node, n.name);
    }
  });

  test('a change on one node is committed to the cluster and applied by the others', async () => {
    const res = await setMaxConnections(a, 11);
    assert.equal(res.status, 200, res.text);
    // Committed before the answer: the row is there the moment the 2xx is.
    const row = await clusterRow();
    assert.equal(Number(row.version), 1);
    assert.equal(row.origin, 'weir-a');
    const states = await waitConverged(all(), 1);
    for (const n of all()) assert.equal(await maxConnections(n), 11);
    assert.equal(states[1].origin, 'weir-a');
    await waitFor(
      'every node to report OK in nodes',
      async () => {
        const s = await a.sync();
        return ['weir-a', 'weir-b', 'weir-c'].every((n) => s.nodes[n] === 'OK');
      },
      60_000,
    );
  });

  test('concurrent changes: one wins per round, the others get 409 and converge on the winner', async () => {
    let version = (await a.sync()).version;
    for (let round = 0; round < 8; round++) {
      // Every node must be at the cluster's version first, or its change is a 409 for being behind.
      await waitConverged(all(), version);
      const values = all().map((_, i) => 100 + round * 10 + i);
      const replies = await Promise.all(all().map((n, i) => setMaxConnections(n, values[i]!)));
      const won = replies
        .map((r, i) => ({ status: r.status, value: values[i]!, text: r.text }))
        .filter((r) => r.status === 200);
      const lost = replies.filter((r) => r.status !== 200);
      assert.ok(won.length >= 1, `round ${round}: nobody won: ${replies.map((r) => r.text).join(' | ')}`);
      for (const r of lost) {
        assert.equal(r.status, 409, r.text);
        assert.match(r.body.description, /Configuration conflict detected/);
      }
      version += won.length;
      const states = await waitConverged(all(), version);
      assert.equal(states[0].version, version, 'the version rises by exactly the number of 2xx answers');
      const final = await maxConnections(a);
      assert.ok(
        won.some((w) => w.value === final),
        `round ${round}: the final value ${final} is one a 2xx answered`,
      );
      if (won.length === 1) assert.equal(final, won[0]!.value);
      assert.equal(Number((await clusterRow()).version), version);
    }
  });

  test('a node killed before its COMMIT: no 2xx, nothing reaches the others, it restarts on the old version', async () => {
    const before = await waitConverged(all(), 1);
    const version = before[0].version;
    const old = await maxConnections(a);
    await a.kill();
    await a.start({ WEIR_TEST_PAUSE_BEFORE_COMMIT: '600000' });
    await waitConverged(all(), version);
    await waitReady(a);
    const pending = setMaxConnections(a, 777).then(
      (r) => r,
      (err: Error) => err,
    );
    // The change is applied locally (under the row lock) before the commit: wait for that.
    await waitFor(
      'the change to be applied on weir-a before its commit',
      async () => (await maxConnections(a)) === 777,
      60_000,
    );
    await a.kill();
    const answer = await pending;
    assert.ok(answer instanceof Error, 'the client got no answer (the process died)');
    // The server rolled the transaction back when the connection went.
    assert.equal(Number((await clusterRow()).version), version);
    await a.start();
    const states = await waitConverged(all(), version);
    assert.equal(states[0].version, version);
    for (const n of all()) assert.equal(await maxConnections(n), old, `${n.name} has the old value`);
  });

  test('a node killed after its COMMIT but before its cache: the change survives and it catches up', async () => {
    const version = (await waitConverged(all(), 1))[0].version;
    await a.kill();
    await a.start({ WEIR_TEST_PAUSE_AFTER_COMMIT: '600000' });
    await waitConverged(all(), version);
    await waitReady(a);
    const pending = setMaxConnections(a, 888).then(
      (r) => r,
      (err: Error) => err,
    );
    await waitFor(
      'the commit to reach the cluster',
      async () => Number((await clusterRow()).version) === version + 1,
      60_000,
    );
    await a.kill();
    assert.ok((await pending) instanceof Error);
    await a.start();
    const states = await waitConverged(all(), version + 1);
    assert.equal(states[0].version, version + 1, 'no version gap');
    for (const n of all()) assert.equal(await maxConnections(n), 888);
  });

  test('a new node joins and catches up from the cluster', async () => {
    const version = (await waitConverged(all(), 1))[0].version;
    const d = await startNode('weir-d', topo);
    extra.push(d);
    await waitConverged([...all(), d], version);
    assert.equal(await maxConnections(d), await maxConnections(a));
    await waitFor('weir-d in nodes', async () => (await a.sync()).nodes['weir-d'] === 'OK', 60_000);
    await d.kill();
  });

  test('a change made through the command API is synchronised too', async () => {
    const version = (await waitConverged(all(), 1))[0].version;
    const res = await b
      .http()
      .post('/api')
      .auth(ADMIN.user, ADMIN.password)
      .send({ action: 'exec', command: 'alter service Svc max_connections 55' });
    assert.equal(res.status, 200);
    assert.equal(res.body.state, 'SUCCEEDED', JSON.stringify(res.body));
    const states = await waitConverged(all(), version + 1);
    assert.equal(states[0].origin, 'weir-b');
    for (const n of all()) assert.equal(await maxConnections(n), 55);
  });

  test('a version one node cannot apply is reported in nodes, not skipped; a later good change heals it', async () => {
    const version = (await waitConverged(all(), 1))[0].version;
    await b.kill();
    // The filter's directory exists when weir-a checks it and is gone when weir-b applies the version.
    const dir = tempDir('weir-qla-');
    mkdirSync(join(dir, 'logs'));
    const created = await a
      .http()
      .post('/filters')
      .auth(ADMIN.user, ADMIN.password)
      .send({ name: 'QLA-Only-On-A', module: 'qlafilter', parameters: { filebase: join(dir, 'logs', 'qla') } });
    assert.equal(created.status, 201, created.text);
    rmSync(dir, { recursive: true, force: true });
    await b.start();
    await waitFor(
      'weir-b to report the failed version',
      async () => {
        const s = await b.sync();
        return s.version === version + 1 && s.status !== 'OK';
      },
      60_000,
    );
    const [sa, sb] = [await a.sync(), await b.sync()];
    assert.match(sb.status, /could not be applied/);
    assert.notEqual(sa.checksum, sb.checksum, 'the node that failed has another configuration');
    await waitFor(
      "weir-a to see weir-b's error in nodes",
      async () => /could not be applied/.test((await a.sync()).nodes['weir-b'] ?? ''),
      60_000,
    );
    const removed = await a.http().delete('/filters/QLA-Only-On-A').auth(ADMIN.user, ADMIN.password);
    assert.equal(removed.status, 204, removed.text);
    await waitConverged(all(), version + 2);
  });

  test('config_sync_wait_replicas=1: a change is acknowledged only once a replica has it', async () => {
    const version = (await waitConverged(all(), 1))[0].version;
    const w = await startNode('weir-w', topo, { globals: 'config_sync_wait_replicas=1\n' });
    extra.push(w);
    await waitConverged([...all(), w], version);
    await waitReady(w);
    const ok = await setMaxConnections(w, 61);
    assert.equal(ok.status, 200, ok.text);
    for (const r of topo.replicas) {
      const [row] = await r.query(`SELECT version FROM mysql.maxscale_config WHERE cluster='Cluster'`);
      assert.ok(Number(row.version) >= version + 1, `${r.name} had the change when it was acknowledged`);
    }
    // Both replicas hold a global read lock: their SQL threads cannot apply the change.
    const locks = await Promise.all(
      topo.replicas.map((r) =>
        mysql.createConnection({
          host: '127.0.0.1',
          port: r.port,
          user: CLUSTER_ADMIN.user,
          password: CLUSTER_ADMIN.password,
        }),
      ),
    );
    try {
      for (const l of locks) await l.query('FLUSH TABLES WITH READ LOCK');
      const res = await setMaxConnections(w, 62);
      assert.equal(res.status, 503, res.text);
      assert.match(res.body.description, /committed, but only 0 of the 1 replica/);
    } finally {
      for (const l of locks) await l.end();
    }
    // Committed though not acknowledged: every node has it.
    await waitConverged([...all(), w], version + 2);
    for (const n of all()) assert.equal(await maxConnections(n), 62);
    await w.kill();
  });

  test('with the cluster primary down changes are refused with 503, reads keep working, nothing is lost', async () => {
    const version = (await waitConverged(all(), 1))[0].version;
    const value = await maxConnections(a);
    await topo.primary.kill();
    await waitFor(
      'weir-a to see no primary',
      async () => {
        const servers = await a.get('/servers');
        return !servers.some((s: any) => s.state.includes('master'));
      },
      60_000,
    );
    const res = await setMaxConnections(a, 999);
    assert.equal(res.status, 503, res.text);
    assert.match(res.body.description, /no primary|cannot be reached/);
    assert.equal(await maxConnections(a), value, 'nothing changed locally');
    assert.equal((await a.sync()).version, version);
    await topo.primary.restart();
    await waitFor(
      'weir-b to see the primary again',
      async () => {
        const servers = await b.get('/servers');
        return servers.some((s: any) => s.name === topo.primary.name && s.state.includes('master'));
      },
      60_000,
    );
    // A later change goes through and every node converges on it.
    await waitFor(
      'a change on weir-b to be accepted',
      async () => (await setMaxConnections(b, 444)).status === 200,
      60_000,
    );
    await waitConverged(all(), version + 1);
    for (const n of all()) assert.equal(await maxConnections(n), 444);
  });
});
