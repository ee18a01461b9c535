/**
 * Crash-safe file replacement.
 *
 * One file: write a temporary file beside the target, fsync it, rename it over the target,
 * fsync the directory. A crash at any point leaves either the old file or the new one,
 * never a torn one.
 *
 * Several files as one change (deleting a service with its listeners): every new file is
 * written and fsynced as a temporary, then a journal naming each rename is committed
 * atomically, then the renames run and the journal is removed. A crash before the journal
 * is committed leaves the old state (the temporaries are stale and removed at the next
 * start); a crash after it leaves the new state (the next start finishes the renames).
 *
 * Temporary and journal names start with a dot and end with `.tmp`/`.journal`: no object
 * name can start with a dot (src/core/objects.ts), and objects' files end with `.cnf`, so a
 * temporary can never be mistaken for an object's file or the other way round.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

const TMP_MARK = '.weir-tmp-';
const TMP_SUFFIX = '.tmp';
const JOURNAL = '.weir-changes.journal';

export function writeFileAtomic(path: string, content: string, mode = 0o600): void {
  const tmp = temporaryFor(path);
  writeDurably(tmp, content, mode, process.env.WEIR_FAULT_CRASH_MID_WRITE === '1');
  renameSync(tmp, path);
  syncDirectory(dirname(path));
}

/**
 * Replaces several files of one directory as one change: after a crash at any point the
 * next start sees all of the old files or all of the new ones.
 */
export function writeFilesAtomic(dir: string, files: Array<{ name: string; content: string }>, mode = 0o600): void {
  if (files.length === 1) return writeFileAtomic(join(dir, files[0]!.name), files[0]!.content, mode);
  if (files.length === 0) return;
  const renames = files.map(({ name, content }) => {
    const target = join(dir, name);
    const tmp = temporaryFor(target);
    writeDurably(tmp, content, mode, false);
    return { from: basename(tmp), to: name };
  });
  const crashAfter = Number(process.env.WEIR_FAULT_CRASH_MID_CHANGE ?? -1);
  if (crashAfter === 0) process.kill(process.pid, 'SIGKILL'); // before the commit point
  // The commit point: once the journal is in place, the change happens.
  writeFileAtomic(join(dir, JOURNAL), JSON.stringify(renames), mode);
  renames.forEach(({ from, to }, i) => {
    if (crashAfter === i + 1) process.kill(process.pid, 'SIGKILL'); // after the commit, part-way
    renameSync(join(dir, from), join(dir, to));
  });
  syncDirectory(dir);
  rmSync(join(dir, JOURNAL));
  syncDirectory(dir);
}

/**
 * Brings a directory back to a committed state after a crash: finishes a committed
 * multi-file change, then removes temporaries (they never hold committed state alone).
 * Returns what it did, for the log.
 */
export function recoverDirectory(dir: string): { completed: string[]; removed: string[] } {
  const completed: string[] = [];
  const journal = join(dir, JOURNAL);
  if (existsSync(journal)) {
    const renames = JSON.parse(readFileSync(journal, 'utf8')) as Array<{ from: string; to: string }>;
    for (const { from, to } of renames) {
      // A rename that already happened left no temporary behind.
      if (existsSync(join(dir, from))) renameSync(join(dir, from), join(dir, to));
      completed.push(to);
    }
    syncDirectory(dir);
    rmSync(journal);
    syncDirectory(dir);
  }
  const removed = readdirSync(dir).filter(isTemporary);
  for (const f of removed) rmSync(join(dir, f), { force: true });
  return { completed, removed };
}

/** Temporary files this module writes: never an object's file (those do not start with a dot). */
export function isTemporary(file: string): boolean {
  return file.startsWith(TMP_MARK) && file.endsWith(TMP_SUFFIX);
}

function temporaryFor(path: string): string {
  return join(dirname(path), `${TMP_MARK}${basename(path)}.${process.pid}${TMP_SUFFIX}`);
}

function writeDurably(path: string, content: string, mode: number, crashHalfWay: boolean): void {
  const data = Buffer.from(content);
  const fd = openSync(path, 'w', mode);
  try {
    if (crashHalfWay) {
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
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
