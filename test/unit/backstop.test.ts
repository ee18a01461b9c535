/**
 * The process-level backstop: an unhandled promise rejection and an exception thrown out of
 * a timer are logged with their stack at the error level, and the process keeps running.
 * Runs a small child process, since the handlers are process-wide.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

test('an unhandled rejection and an uncaught exception are logged loudly and Weir keeps running', async () => {
  const logdir = mkdtempSync(join(tmpdir(), 'weir-backstop-'));
  const script = `
    import { installBackstop, useLogger } from './src/backstop.ts';
    import { Log } from './src/log/logger.ts';
    installBackstop();
    const log = new Log({ logdir: ${JSON.stringify(logdir)}, stdout: false,
      levels: { debug: false, info: true, notice: true, warning: true, error: true },
      throttling: { limit: 10, window: 1, suppression: 10 } });
    useLogger(log.logger);
    Promise.reject(new Error('nobody awaited me'));
    setTimeout(() => { throw new Error('thrown from a timer'); }, 0);
    // Timers run in order: this one comes after the throw, and the rejection was reported before both.
    setTimeout(() => { process.stdout.write('still running'); log.close(); }, 5);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  try {
    assert.equal(code, 0, `the process exited normally (stderr: ${stderr})`);
    assert.equal(stdout, 'still running');
    const lines = readFileSync(join(logdir, 'weir.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const rejection = lines.find((l) => l.kind === 'unhandled promise rejection');
    const exception = lines.find((l) => l.kind === 'uncaught exception');
    assert.equal(rejection?.level, 'error');
    assert.match(rejection.msg, /nobody awaited me/);
    assert.match(rejection.err, /Error: nobody awaited me\n\s+at /, 'with its stack');
    assert.equal(exception?.level, 'error');
    assert.match(exception.err, /Error: thrown from a timer\n\s+at /);
  } finally {
    rmSync(logdir, { recursive: true, force: true });
  }
});
