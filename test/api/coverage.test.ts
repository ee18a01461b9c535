/**
 * Every operation of the spec has a test that calls it: this walks every operationId in
 * generated/openapi.json and looks for a request with that method and a matching path in
 * the test sources (supertest's `.get('/servers/...')` and friends).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildRoutes, loadSpec, matchRoute, METHODS } from '../../src/http/spec.ts';

const TEST_DIR = fileURLToPath(new URL('..', import.meta.url));

function testFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const path = join(dir, f);
    return statSync(path).isDirectory() ? testFiles(path) : path.endsWith('.test.ts') ? [path] : [];
  });
}

test('every operationId in the spec is called by a test', () => {
  const routes = buildRoutes(loadSpec());
  const called = new Set<string>();
  const call = /\.(get|post|put|patch|delete)\(\s*(['"`])(\/[^'"`]*)\2/g;
  for (const file of testFiles(TEST_DIR)) {
    if (file === fileURLToPath(import.meta.url)) continue;
    for (const m of readFileSync(file, 'utf8').matchAll(call)) {
      const path = m[3]!
        .replace(/\$\{[^}]*\}/g, 'x')
        .replace(/\?.*$/, '')
        .replace(/^\/v1(?=\/)/, '');
      const match = matchRoute(routes, path);
      const id = match?.route.operations[m[1] as (typeof METHODS)[number]];
      if (id) called.add(id);
    }
  }
  const all = routes.flatMap((r) => Object.values(r.operations));
  const missing = all.filter((id) => !called.has(id!));
  assert.deepEqual(missing, [], `operations without a test: ${missing.join(', ')}`);
  assert.ok(all.length >= 49, `the spec has ${all.length} operations`);
});
