import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildParams, newObject, type ConfigObject } from '../../src/core/objects.ts';
import { selectServer } from '../../src/proxy/routing/select-server.ts';

function server(
  name: string,
  flags: string[],
  extra: { connections?: number; admin?: string[]; rank?: string; lag?: number; weight?: number } = {},
): ConfigObject {
  const given: Record<string, unknown> = {
    address: '127.0.0.1',
    state: extra.admin ?? [],
    rank: extra.rank ?? 'primary',
  };
  if (extra.weight !== undefined) given.weight = extra.weight;
  const obj = newObject('server', name, buildParams('server', given, false), { type: 'runtime' });
  obj.runtime.facts.flags = flags;
  obj.runtime.currentConnections = extra.connections ?? 0;
  obj.runtime.facts.replication_lag = extra.lag ?? null;
  return obj;
}

function service(options: string[], params: Record<string, unknown> = {}): ConfigObject {
  return newObject(
    'service',
    'svc',
    buildParams(
      'service',
      { router: 'readconnroute', user: 'u', password: 'p', router_options: options, ...params },
      false,
    ),
    { type: 'runtime' },
  );
}

const pick = (svc: ConfigObject, servers: ConfigObject[]) => selectServer(svc, servers)?.name ?? null;

test('router_options picks servers by their monitor state', () => {
  const servers = [server('p', ['master', 'running']), server('r1', ['slave', 'running']), server('r2', ['running'])];
  assert.equal(pick(service(['master']), servers), 'p');
  assert.equal(pick(service(['slave']), servers), 'r1');
  assert.equal(pick(service(['running']), servers), 'p');
  assert.equal(pick(service(['synced']), servers), null);
});

test('slave falls back to the primary when no replica is up, but master does not fall back', () => {
  const servers = [server('p', ['master', 'running']), server('r1', ['down'])];
  assert.equal(pick(service(['slave']), servers), 'p');
  assert.equal(pick(service(['master']), [server('r1', ['slave', 'running'])]), null);
});

test('least current connections wins; ties go to the first in servers order', () => {
  const busy = [
    server('r1', ['slave', 'running'], { connections: 3 }),
    server('r2', ['slave', 'running'], { connections: 1 }),
    server('r3', ['slave', 'running'], { connections: 1 }),
  ];
  assert.equal(pick(service(['slave']), busy), 'r2');
});

test('maintenance, draining and down servers get no new sessions', () => {
  const servers = [
    server('r1', ['slave', 'running'], { admin: ['maintenance'] }),
    server('r2', ['slave', 'running'], { admin: ['draining'] }),
    server('r3', ['down']),
    server('r4', ['slave', 'running'], { connections: 99 }),
  ];
  assert.equal(pick(service(['slave']), servers), 'r4');
});

test('master_accept_reads=false keeps running/slave sessions off the primary', () => {
  const servers = [server('p', ['master', 'running']), server('r1', ['slave', 'running'], { connections: 5 })];
  assert.equal(pick(service(['running']), servers), 'p');
  assert.equal(pick(service(['running'], { master_accept_reads: false }), servers), 'r1');
});

test('rank: secondary servers only when no primary-ranked one qualifies', () => {
  const servers = [
    server('r1', ['slave', 'running'], { rank: 'secondary' }),
    server('r2', ['slave', 'running'], { connections: 10 }),
  ];
  assert.equal(pick(service(['slave']), servers), 'r2');
  assert.equal(pick(service(['slave']), [servers[0]!]), 'r1');
});

test('max_replication_lag skips lagging replicas; weightby divides connections by the weight', () => {
  const lagging = [
    server('r1', ['slave', 'running'], { lag: 30 }),
    server('r2', ['slave', 'running'], { lag: 1, connections: 4 }),
  ];
  assert.equal(pick(service(['slave'], { max_replication_lag: 10 }), lagging), 'r2');
  const weighted = [
    server('small', ['slave', 'running'], { connections: 2, weight: 1 }),
    server('big', ['slave', 'running'], { connections: 6, weight: 10 }),
  ];
  assert.equal(pick(service(['slave'], { weightby: 'weight' }), weighted), 'big');
});
