import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import mysql from 'mysql2/promise';
import { createUser, startMariaDB, startReplicationTopology, waitFor } from './mariadb.ts';

test('a throw-away server: its own port, data survives a kill and restart, destroy removes it', async () => {
  const db = await startMariaDB();
  try {
    assert.notEqual(db.port, 3306);
    await createUser(db, 'tester', 't3st');
    const conn = await mysql.createConnection({ host: '127.0.0.1', port: db.port, user: 'tester', password: 't3st' });
    const [[row]] = (await conn.query('SELECT @@port AS port')) as any;
    assert.equal(Number(row.port), db.port);
    await conn.query('CREATE DATABASE app');
    await conn.query('CREATE TABLE app.t (id INT PRIMARY KEY)');
    await conn.query('INSERT INTO app.t VALUES (7)');
    await conn.end();
    await db.kill();
    await assert.rejects(
      mysql.createConnection({ host: '127.0.0.1', port: db.port, user: 'tester', password: 't3st' }),
    );
    await db.restart();
    assert.deepEqual(await db.query('SELECT id FROM app.t'), [{ id: 7 }]);
  } finally {
    await db.destroy();
  }
  assert.ok(!existsSync(db.datadir));
});

test('a GTID primary with two replicas replicates writes', async () => {
  const topo = await startReplicationTopology(2);
  try {
    await topo.primary.query('CREATE DATABASE app');
    await topo.primary.query('CREATE TABLE app.t (id INT PRIMARY KEY)');
    await topo.primary.query('INSERT INTO app.t VALUES (1), (2)');
    for (const r of topo.replicas) {
      await waitFor(
        `${r.name} to have the rows`,
        async () => (await r.query('SELECT COUNT(*) AS n FROM app.t'))[0].n === 2,
      );
      const [{ ro }] = await r.query('SELECT @@read_only AS ro');
      assert.equal(Number(ro), 1);
      const [status] = await r.query('SHOW ALL SLAVES STATUS');
      assert.deepEqual([status.Slave_IO_Running, status.Slave_SQL_Running], ['Yes', 'Yes']);
    }
  } finally {
    await topo.destroy();
  }
});
