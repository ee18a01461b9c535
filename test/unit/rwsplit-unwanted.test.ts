/**
 * Which connections a readwritesplit session leaves at a safe point (unwanted.ts; readwritesplit
 * reference §5.4, §5.5): the rules alone, on server objects as the core and monitor fill them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newObject, type ConfigObject } from '../../src/core/objects.ts';
import { lagCloseLimit, whyUnwanted } from '../../src/proxy/routing/readwritesplit/unwanted.ts';

function server(o: { state?: string[]; flags?: string[]; rank?: string; lag?: number | null } = {}): ConfigObject {
  const s = newObject(
    'server',
    'db2',
    { params: { state: o.state ?? [], rank: o.rank ?? 'primary' }, custom: {} },
    { type: 'runtime' },
  );
  s.runtime.facts.flags = o.flags ?? ['running', 'slave'];
  s.runtime.facts.replication_lag = o.lag ?? 0;
  return s;
}

test('lag: closed only beyond max(2 × max_replication_lag, 300 s), never when the limit is off', () => {
  assert.equal(lagCloseLimit(0), 0);
  assert.equal(lagCloseLimit(10), 300);
  assert.equal(lagCloseLimit(200), 400);
  assert.equal(whyUnwanted(server({ lag: 300 }), 'slave', 0, 300), null);
  assert.match(whyUnwanted(server({ lag: 301 }), 'slave', 0, 300)!, /lag of 301 s exceeds 300 s/);
  assert.equal(whyUnwanted(server({ lag: null }), 'slave', 0, 300), null);
  assert.equal(whyUnwanted(server({ lag: 100_000 }), 'slave', 0, 0), null);
});

test('maintenance and draining close any connection; rank and lag only a replica’s', () => {
  assert.match(whyUnwanted(server({ state: ['maintenance'] }), 'master', 0, 0)!, /maintenance/);
  assert.match(whyUnwanted(server({ state: ['draining'] }), 'slave', 0, 0)!, /draining/);
  assert.match(whyUnwanted(server({ rank: 'secondary' }), 'slave', 0, 0)!, /rank secondary .* rank primary/);
  // A session keeps a lower-priority primary as long as it lives.
  assert.equal(whyUnwanted(server({ rank: 'secondary', lag: 1000 }), 'master', 0, 300), null);
});

test('a server the monitor no longer vouches for (a stopped monitor forgets its flags) keeps its connections', () => {
  assert.equal(whyUnwanted(server({ flags: [] }), 'slave', 0, 300), null);
  assert.equal(whyUnwanted(server(), 'slave', 0, 300), null);
});
