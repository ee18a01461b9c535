/**
 * The Go and Python clients under clients/ (models generated from the spec by quicktype,
 * a thin HTTP layer beside them): each one's example lists the servers of a real Weir and
 * puts one in maintenance, and the API shows it. Skipped, with the reason, only when the
 * language's toolchain is not installed (scripts/ensure-deps.sh installs golang-go and python3).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ADMIN, asAdmin, removeDir, startTestWeir, type TestWeir } from '../harness/weir.ts';

const CLIENTS = fileURLToPath(new URL('../../clients/', import.meta.url));
const has = (cmd: string) => spawnSync(cmd, ['version'], { stdio: 'ignore' }).error === undefined;
const run = promisify(execFile);

describe('clients in other languages', () => {
  let t: TestWeir;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    t = await startTestWeir();
    // server2 is a secondary with a custom parameter: the typed models read rank and priority
    // and are not upset by the custom one.
    await asAdmin(t.http.patch('/servers/server2'))
      .set('Content-Type', 'application/merge-patch+json')
      .send({ parameters: { rank: 'secondary', priority: 2, weight: 10 } })
      .expect(200);
    env = { ...process.env, WEIR_URL: t.weir.adminUrl, WEIR_USER: ADMIN.user, WEIR_PASSWORD: ADMIN.password, GOPROXY: 'off', GOFLAGS: '-mod=mod' };
  });
  after(async () => {
    await t.stop();
    removeDir(t.datadir);
  });
  const state = async (name: string) => (await asAdmin(t.http.get(`/servers/${name}`)).expect(200)).body.state as string[];

  test('Go: the example lists the servers and puts one in maintenance', { skip: has('go') ? false : 'go is not installed (Debian package golang-go)' }, async () => {
    const { stdout } = await run('go', ['run', './example', 'server1'], { cwd: `${CLIENTS}go`, env, timeout: 600_000 });
    assert.match(stdout, /^server1\t127\.0\.0\.1:1\tprimary\/0\t\[down\]$/m);
    assert.match(stdout, /^server2\t127\.0\.0\.1:2\tsecondary\/2\t/m);
    assert.match(stdout, /^server1 is now \[maintenance down\]$/m);
    assert.ok((await state('server1')).includes('maintenance'));
    // The API's refusal reaches the caller as an error and a non-zero exit.
    const failed = await run('go', ['run', './example', 'nope'], { cwd: `${CLIENTS}go`, env, timeout: 600_000 }).then(() => null, (e: { code: number; stderr: string }) => e);
    assert.equal(failed?.code, 1);
    assert.match(failed!.stderr, /404 Not Found: There is no server named 'nope'/);
  });

  test('Python: the example lists the servers and puts one in maintenance', { skip: has('python3') || spawnSync('python3', ['--version']).status === 0 ? false : 'python3 is not installed' }, async () => {
    const { stdout } = await run('python3', ['example.py', 'server2'], { cwd: `${CLIENTS}python`, env });
    assert.match(stdout, /^server1\t127\.0\.0\.1:1\tprimary\/0\t/m);
    assert.match(stdout, /^server2\t127\.0\.0\.1:2\tsecondary\/2\t\['down'\]$/m);
    assert.match(stdout, /^server2 is now \['maintenance', 'down'\]$/m);
    assert.ok((await state('server2')).includes('maintenance'));
    const failed = await run('python3', ['example.py', 'nope'], { cwd: `${CLIENTS}python`, env }).then(() => null, (e: { code: number; stderr: string }) => e);
    assert.equal(failed?.code, 1);
    assert.match(failed!.stderr, /404 Not Found: There is no server named 'nope'/);
  });
});
