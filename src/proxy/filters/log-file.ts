/**
 * A file filters append lines to. As MaxScale's buffered files, lines are batched: written
 * in one synchronous write when 64 KiB have gathered or 100 ms after the first (at once
 * with `flush=true`), so lines stay in order and reach the disk soon after their statement
 * without a write system call per statement.
 */
import { closeSync, fstatSync, openSync, writeSync } from 'node:fs';

const BATCH_BYTES = 64 * 1024;
const BATCH_MS = 100;

export class LogFile {
  private fd: number;
  private pending: string[] = [];
  private pendingBytes = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly path: string,
    private readonly options: { append: boolean; flush: boolean; header?: string; onError?: (err: Error) => void },
  ) {
    // Statements can hold private data: readable by Weir's own user only.
    this.fd = openSync(path, options.append ? 'a' : 'w', 0o600);
    if (options.header !== undefined) this.write(options.header);
  }

  write(line: string): void {
    if (this.fd < 0) return;
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (this.options.flush || this.pendingBytes >= BATCH_BYTES) return this.flushNow();
    if (!this.timer) {
      this.timer = setTimeout(() => {
        // A batch written from a timer has no caller to throw to (a full disk, say): it is
        // reported, and an exception escaping a timer would reach the process.
        try {
          this.flushNow();
        } catch (err) {
          this.options.onError?.(err as Error);
        }
      }, BATCH_MS);
      this.timer.unref();
    }
  }

  flushNow(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending.length === 0 || this.fd < 0) return;
    const text = this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    writeSync(this.fd, text);
  }

  /** Reopens by name, appending: a log rotation renamed the old file; a new one starts with the header. */
  reopen(): void {
    this.flushNow();
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = openSync(this.path, 'a', 0o600);
    if (this.options.header !== undefined && fstatSync(this.fd).size === 0) this.write(this.options.header);
  }

  close(): void {
    this.flushNow();
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
