/**
 * Crash-safe file replacement: write a temporary file beside the target, fsync it,
 * rename it over the target, fsync the directory. A crash at any point leaves either
 * the old file or the new one, never a torn one.
 */
import { closeSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const TMP_MARK = '.weir-tmp-';

export function writeFileAtomic(path: string, content: string, mode = 0o600): void {
  const tmp = join(dirname(path), `${TMP_MARK}${basename(path)}.${process.pid}`);
  const data = Buffer.from(content);
  const fd = openSync(tmp, 'w', mode);
  try {
    if (process.env.WEIR_FAULT_CRASH_MID_WRITE === '1') {
      // Fault injection for the crash test: die with half the new content on disk.
      writeSync(fd, data, 0, data.length >> 1);
      fsyncSync(fd);
      process.kill(process.pid, 'SIGKILL');
    }
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  syncDirectory(dirname(path));
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Removes temporary files a crash left behind; they never hold committed state. */
export function removeStaleTemporaries(dir: string): string[] {
  const stale = readdirSync(dir).filter((f) => f.startsWith(TMP_MARK));
  for (const f of stale) rmSync(join(dir, f), { force: true });
  return stale;
}
