/**
 * A change of several objects (a service deleted with force=yes, with its listeners) is
 * persisted as one: a crash at any point leaves the old state or the new one.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { ADMIN, exited, removeDir, spawnWeir, tempDir, writeTestConfig } from '../harness/weir.ts';

const dirs: string[] = [];
after(() => dirs.forEach(removeDir));

async function crashDeletingService(point: string): Promise<{ dir: string; args: string[] }> {
  const dir = tempDir();
  dirs.push(dir);
  const args = ['--config', await writeTestConfig(dir), '--datadir', dir, '--admin-port', '0'];
  const crashing = await spawnWeir(args, { WEIR_FAULT_CRASH_MID_CHANGE: point });
  await assert.rejects(
    request(crashing.url)
      .delete('/services/RW-Service?force=yes')
      .auth(ADMIN.user, ADMIN.password)
      .then((r) => r),
    /socket hang up|ECONNRESET/,
  );
  assert.equal((await exited(crashing.child)).signal, 'SIGKILL');
  return { dir, args };
}

async function stateAfterRestart(args: string[]): Promise<{ service: number; listener: number }> {
  const next = await spawnWeir(args);
  try {
    const get = (p: string) =>
      request(next.url)
        .get(p)
        .auth(ADMIN.user, ADMIN.password)
        .then((r) => r.status);
    return {
      service: await get('/services/RW-Service'),
      listener: await get('/services/RW-Service/listeners/RW-Listener'),
    };
  } finally {
    next.child.kill('SIGTERM');
    await exited(next.child);
  }
}

describe('multi-object changes are atomic', () => {
  test('a crash before the change is committed leaves the service and its listener', async () => {
    const { dir, args } = await crashDeletingService('0');
    const runtime = join(dir, 'runtime');
    assert.ok(
      readdirSync(runtime).some((f) => f.startsWith('.weir-tmp-')),
      'the new files were written as temporaries',
    );
    assert.deepEqual(await stateAfterRestart(args), { service: 200, listener: 200 });
    assert.deepEqual(
      readdirSync(runtime).filter((f) => f.startsWith('.')),
      [],
      'the temporaries are removed',
    );
  });

  test('a crash half-way through the renames of a committed change finishes it at the next start', async () => {
    const { dir, args } = await crashDeletingService('2');
    const runtime = join(dir, 'runtime');
    // On disk the change is half done: the listener's file is renamed, the service's is not.
    assert.match(readFileSync(join(runtime, 'rw-listener.cnf'), 'utf8'), /weir_deleted=true/);
    assert.ok(!existsSync(join(runtime, 'rw-service.cnf')));
    const after = await stateAfterRestart(args);
    assert.equal(after.service, 404);
    assert.match(readFileSync(join(runtime, 'rw-service.cnf'), 'utf8'), /weir_deleted=true/);
    assert.deepEqual(
      readdirSync(runtime).filter((f) => f.startsWith('.')),
      [],
      'journal and temporaries are gone',
    );
  });
});
