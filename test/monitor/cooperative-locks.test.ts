/**
 * The cooperative-monitoring lock work against a real MariaDB server: `release-locks`
 * arriving while a monitoring round is between reading the locks and taking them must
 * leave this monitor without the role and without the lock, and the back-off must hold.
 * Three servers with majority_of_all: a lone monitor takes two or more locks whenever it finds them free.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { startMariaDB, waitFor, type MariaDBServer } from '../harness/mariadb.ts';
import { CooperativeLocks, SERVER_LOCK, type LockSettings } from '../../src/monitor/locks.ts';
import { LEVELS, type WeirLogger } from '../../src/log/logger.ts';

const quiet = pino({ level: 'silent', customLevels: LEVELS, useOnlyCustomLevels: false }) as unknown as WeirLogger;

describe('cooperative locks: release-locks during a monitoring round', () => {
  let all: MariaDBServer[] = [];
  let settings: LockSettings;
  const servers = () => all.map((x, i) => ({ name: `db${i + 1}`, host: x.host, port: x.port, running: true }));
  const holder = async () => {
    const ids = await Promise.all(
      all.map(async (x) => (await x.query(`SELECT IS_USED_LOCK('${SERVER_LOCK}') AS id`))[0].id),
    );
    return ids.some((id) => id !== null) ? ids.join(',') : null;
  };

  before(async () => {
    all = await Promise.all([1, 2, 3].map((i) => startMariaDB({ name: `locks${i}` })));
    settings = {
      mode: 'majority_of_all',
      user: 'root',
      password: '',
      connectTimeout: 5,
      waitTimeout: 60,
      failcount: 1,
    };
  });
  after(async () => {
    await Promise.all(all.map((x) => x.destroy()));
  });

  test('a release that lands mid-round is not undone by the round, nor by the rounds after it', async () => {
    for (let attempt = 0; attempt < 40; attempt++) {
      const locks = new CooperativeLocks('Cluster', quiet);
      await locks.tick(settings, servers());
      assert.equal(locks.primary('majority_of_all'), true, 'a lone monitor is primary');
      assert.notEqual(await holder(), null);
      // Not awaited before the release: the round's read of the lock is in flight when it comes.
      const round = locks.tick(settings, servers());
      const released = await locks.releaseLocks('majority_of_all');
      await round;
      assert.equal(released, 3);
      assert.equal(locks.primary('majority_of_all'), false, `attempt ${attempt}: primary again after release-locks`);
      assert.equal(await holder(), null, `attempt ${attempt}: the lock was taken back`);
      await locks.tick(settings, servers());
      assert.equal(locks.primary('majority_of_all'), false, 'the back-off keeps it from taking the role');
      assert.equal(await holder(), null);
      await locks.closeAll();
    }
  });

  test('a second release with nothing held is refused, and closing frees the lock on the server', async () => {
    const locks = new CooperativeLocks('Cluster', quiet);
    await locks.tick(settings, servers());
    assert.notEqual(await holder(), null);
    await locks.closeAll();
    await assert.rejects(locks.releaseLocks('majority_of_all'), /holds no locks/);
    // The server frees a user lock when it sees the connection go.
    await waitFor("the server to free the closed connection's lock", async () => (await holder()) === null, 30_000);
  });
});
