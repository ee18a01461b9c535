/**
 * Weir's log: pino writing JSON lines to `<logdir>/weir.log` and to standard output.
 *
 * MaxScale switches each priority on and off on its own (`log_info`, `log_debug`, ...),
 * which a pino threshold cannot express; so the logger runs at the lowest level and a
 * logMethod hook drops the priorities that are off. The same hook throttles repeated
 * errors and warnings as MaxScale's `log_throttling` does. Passwords are redacted.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import type { LogLevels, LogThrottling } from '../config/globals.ts';

export const LEVELS = { debug: 20, info: 30, notice: 35, warning: 40, error: 50 } as const;
export type Level = keyof typeof LEVELS;
export type WeirLogger = Logger<Level>;

export interface LogOptions {
  logdir: string;
  stdout: boolean;
  levels: LogLevels;
  throttling: LogThrottling;
}

export class Log {
  readonly file: string;
  readonly logger: WeirLogger;
  levels: LogLevels;
  throttling: LogThrottling;
  lastFlushed: Date | null = null;
  lastModified = new Date();
  private readonly fileStream: ReturnType<typeof pino.destination>;
  private readonly recent = new Map<string, { count: number; windowStart: number; suppressedUntil: number }>();

  constructor(readonly options: LogOptions) {
    // Logs name users, clients and statements: readable by Weir's own user only.
    mkdirSync(options.logdir, { recursive: true, mode: 0o700 });
    this.file = join(options.logdir, 'weir.log');
    this.levels = { ...options.levels };
    this.throttling = { ...options.throttling };
    // Synchronous writes: a line is on disk before the call returns, so nothing is lost
    // in a crash and a flush/reopen never races a pending buffer.
    this.fileStream = pino.destination({ dest: this.file, sync: true, mkdir: true, mode: 0o600 });
    const streams: pino.StreamEntry<Level>[] = [{ level: 'debug', stream: this.fileStream }];
    if (options.stdout) streams.push({ level: 'debug', stream: pino.destination({ fd: 1, sync: true }) });
    const log = this;
    this.logger = pino<Level>(
      {
        level: 'debug',
        customLevels: LEVELS,
        useOnlyCustomLevels: true,
        base: { pid: process.pid },
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
        redact: { paths: ['password', '*.password', 'replication_password', '*.replication_password'], censor: '*****' },
        hooks: {
          logMethod(args, method, level) {
            if (log.allows(level, args)) method.apply(this, args as Parameters<typeof method>);
          },
        },
      },
      pino.multistream(streams, { levels: LEVELS, dedupe: false }),
    );
  }

  /** Called after every flush: other files Weir writes (filters' logs) reopen too. */
  private readonly flushListeners: Array<() => void> = [];
  onFlush(listener: () => void): void {
    this.flushListeners.push(listener);
  }

  /** Reopens the log file by name (after logrotate renamed it), and every filter's file. */
  flush(): void {
    this.fileStream.flushSync();
    this.fileStream.reopen();
    for (const l of this.flushListeners) l();
    this.lastFlushed = new Date();
    this.lastModified = new Date();
  }

  setLevels(levels: LogLevels, throttling: LogThrottling): void {
    this.levels = { ...levels, error: true };
    this.throttling = { ...throttling };
    this.recent.clear();
    this.lastModified = new Date();
  }

  close(): void {
    this.fileStream.flushSync();
    this.fileStream.end();
  }

  private allows(levelValue: number, args: unknown[]): boolean {
    const name = (Object.keys(LEVELS) as Level[]).find((k) => LEVELS[k] === levelValue);
    if (!name || !this.levels[name]) return false;
    if (name !== 'error' && name !== 'warning') return true;
    return this.notThrottled(args);
  }

  /** The same message `limit` times within `window` is suppressed for `suppression`. */
  private notThrottled(args: unknown[]): boolean {
    const { limit, window, suppression } = this.throttling;
    if (limit === 0) return true;
    const key = args.map((a) => (typeof a === 'string' ? a : '')).join('|');
    const now = Date.now();
    const entry = this.recent.get(key) ?? { count: 0, windowStart: now, suppressedUntil: 0 };
    this.recent.set(key, entry);
    if (now < entry.suppressedUntil) return false;
    if (now - entry.windowStart > window * 1000) {
      entry.count = 0;
      entry.windowStart = now;
    }
    entry.count++;
    if (entry.count > limit) {
      entry.suppressedUntil = now + suppression * 1000;
      entry.count = 0;
      entry.windowStart = entry.suppressedUntil;
      return false;
    }
    return true;
  }
}
