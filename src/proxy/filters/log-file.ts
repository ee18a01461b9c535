/**
 * A file filters append lines to. Lines are batched and written in one synchronous write
 * per event-loop turn (or at once with `flush=true`), so a session's lines stay in order
 * and are on disk soon after the statement, without a write per statement.
 */
import { closeSync, fstatSync, openSync, writeSync } from 'node:fs';

export class LogFile {
  private fd: number;
  private pending: string[] = [];
  private scheduled = false;

  constructor(readonly path: string, private readonly options: { append: boolean; flush: boolean; header?: string }) {
    this.fd = openSync(path, options.append ? 'a' : 'w');
    if (options.header !== undefined) this.write(options.header);
  }

  write(line: string): void {
    if (this.fd < 0) return;
    this.pending.push(line);
    if (this.options.flush) return this.flushNow();
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flushNow());
    }
  }

  flushNow(): void {
    this.scheduled = false;
    if (this.pending.length === 0 || this.fd < 0) return;
    const text = this.pending.join('');
    this.pending = [];
    writeSync(this.fd, text);
  }

  /** Reopens by name, appending: a log rotation renamed the old file; a new one starts with the header. */
  reopen(): void {
    this.flushNow();
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = openSync(this.path, 'a');
    if (this.options.header !== undefined && fstatSync(this.fd).size === 0) this.write(this.options.header);
  }

  close(): void {
    this.flushNow();
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
