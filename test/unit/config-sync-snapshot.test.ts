/**
 * The synchronised configuration document and its apply, without servers: a snapshot
 * leaves out local run state, and applying another instance's document makes this core's
 * snapshot equal to it whatever changed (parameters, new and removed objects, an object
 * whose module changed, which needs a new object), persisted as runtime changes.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readConfiguration } from '../../src/weir.ts';
import { applySnapshot, checksum, snapshot, type SyncedObject } from '../../src/config/sync/snapshot.ts';
import { removeDir, tempDir, TEST_CONFIG } from '../harness/weir.ts';

function load(datadir: string) {
  const configFile = join(datadir, 'weir.cnf');
  writeFileSync(configFile, TEST_CONFIG.replaceAll('LISTENER_PORT', '4006'));
  return readConfiguration({ configFile, datadir });
}
const clone = (c: SyncedObject[]) => JSON.parse(JSON.stringify(c)) as SyncedObject[];
const find = (c: SyncedObject[], id: string) => c.find((o) => o.id === id)!;

describe('config sync document', () => {
  test('leaves out run state, keeps maintenance, and is stable', () => {
    const dir = tempDir();
    try {
      const { core } = load(dir);
      core.setRunState('service', 'RW-Service', false);
      core.setServerAdminState('server1', ['maintenance']);
      const doc = snapshot(core);
      assert.equal(find(doc, 'RW-Service').attributes.parameters.state, undefined);
      assert.deepEqual(find(doc, 'server1').attributes.parameters.state, ['maintenance']);
      assert.equal(checksum(doc), checksum(snapshot(core)));
      assert.deepEqual(
        doc.map((o) => o.type),
        ['servers', 'servers', 'monitors', 'services', 'filters', 'listeners'],
      );
    } finally {
      removeDir(dir);
    }
  });

  test('applying another document makes the core equal to it, and survives a restart', () => {
    const dir = tempDir();
    try {
      const { core } = load(dir);
      const target = clone(snapshot(core));
      find(target, 'RW-Service').attributes.parameters.max_connections = 42;
      find(target, 'server2').attributes.parameters.port = 3310;
      find(target, 'server2').attributes.parameters.state = ['draining'];
      // A filter with the same name but another module must be recreated.
      find(target, 'QLA').attributes.parameters = { module: 'topfilter', filebase: '/tmp/weir-top', count: 5 };
      // server1 goes: the service and monitor stop naming it first.
      target.splice(target.indexOf(find(target, 'server1')), 1);
      find(target, 'RW-Service').attributes.parameters.servers = ['server2', 'server3'];
      find(target, 'Cluster-Monitor').attributes.parameters.servers = ['server2', 'server3'];
      target.unshift({
        id: 'server3',
        type: 'servers',
        attributes: { parameters: { address: '127.0.0.3', port: 3306 } },
      });
      applySnapshot(core, target);
      const applied = snapshot(core);
      assert.equal(find(applied, 'RW-Service').attributes.parameters.max_connections, 42);
      assert.equal(find(applied, 'QLA').attributes.parameters.module, 'topfilter');
      assert.equal(
        applied.find((o) => o.id === 'server1'),
        undefined,
      );
      assert.deepEqual(find(applied, 'server2').attributes.parameters.state, ['draining']);
      // Applying the result again changes nothing; a restart reads the same configuration back.
      applySnapshot(core, applied);
      assert.equal(checksum(snapshot(core)), checksum(applied));
      assert.equal(checksum(snapshot(load(dir).core)), checksum(applied));
    } finally {
      removeDir(dir);
    }
  });
});
