/**
 * Weir's log: pino writing JSON lines to `<logdir>/weir.log` and to standard output.
 *
 * MaxScale switches each priority on and off on its own (`log_info`, `log_debug`, ...),
 * which a pino threshold cannot express; so the logger runs at the lowest level and a
 * logMethod hook drops the priorities that are off. The same hook throttles repeated
 * errors and warnings as MaxScale's `log_throttling` does. Passwords are redacted.
 *
 * MaxScale throttles per place in the code that logs, not per text. Here a message's kind
 * is its `kind` field when it has one (a stable name such as 'session-error-1045' for
 * messages that interpolate user names or addresses), else its text; an unauthenticated
 * client choosing new user names gets one budget, not one per name. The throttling state
 * is bounded (THROTTLE_KEYS, least recently used first out).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import type { LogLevels, LogThrottling } from '../config/globals.ts';

export const LEVELS = { debug: 20, info: 30, notice: 35, warning: 40, error: 50 } as const;
export type Level = keyof typeof LEVELS;
export type WeirLogger = Logger<Level>;

/** At most this many message kinds are tracked for throttling. */
export const THROTTLE_KEYS = 1000;

export interface LogOptions {
  logdir: string;
  stdout: boolean;
  levels: LogLevels;
  throttling: LogThrottling;
}

/** The Log behind each logger it made (levelEnabled). */
const logs = new WeakMap<WeirLogger, Log>();

/**
 * Whether `logger` writes messages of `level` now (the level switches live in its Log, not in
 * pino's threshold). A logger no Log made writes everything.
 */
export function levelEnabled(logger: WeirLogger, level: Level): boolean {
  return logs.get(logger)?.isEnabled(level) ?? true;
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
    const allows = (level: number, args: unknown[]): boolean => this.allows(level, args);
    this.logger = pino<Level>(
      {
        level: 'debug',
        customLevels: LEVELS,
        useOnlyCustomLevels: true,
        base: { pid: process.pid },
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
        redact: {
          paths: ['password', '*.password', 'replication_password', '*.replication_password'],
          censor: '*****',
        },
        hooks: {
          logMethod(args, method, level) {
            if (allows(level, args)) method.apply(this, args as Parameters<typeof method>);
          },
        },
      },
      pino.multistream(streams, { levels: LEVELS, dedupe: false }),
    );
    logs.set(this.logger, this);
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

  /** Whether messages of `level` are written now (callers skip work that only feeds them). */
  isEnabled(level: Level): boolean {
    return !this.closed && (level === 'error' || this.levels[level] === true);
  }

  close(): void {
    // Work still finishing after a stop (a login being verified) must not write to a closed file.
    this.closed = true;
    this.fileStream.flushSync();
    this.fileStream.end();
  }

  private closed = false;

  private allows(levelValue: number, args: unknown[]): boolean {
    if (this.closed) return false;
    const name = (Object.keys(LEVELS) as Level[]).find((k) => LEVELS[k] === levelValue);
    if (!name || !this.levels[name]) return false;
    if (name !== 'error' && name !== 'warning') return true;
    return this.notThrottled(args);
  }

  /** Message kinds tracked for throttling, for tests. */
  throttleKeys(): number {
    return this.recent.size;
  }

  /** The same kind of message `limit` times within `window` is suppressed for `suppression`. */
  private notThrottled(args: unknown[]): boolean {
    const { limit, window, suppression } = this.throttling;
    if (limit === 0) return true;
    const key = throttleKey(args);
    const now = Date.now();
    let entry = this.recent.get(key);
    if (entry) {
      // Most recently used last: the map's first entries are the ones to drop.
      this.recent.delete(key);
    } else {
      if (this.recent.size >= THROTTLE_KEYS) this.prune(now);
      entry = { count: 0, windowStart: now, suppressedUntil: 0 };
    }
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

  /** Drops kinds whose window and suppression are over, then the least recently used until there is room. */
  private prune(now: number): void {
    const windowMs = this.throttling.window * 1000;
    for (const [key, e] of this.recent)
      if (now >= e.suppressedUntil && now - e.windowStart > windowMs) this.recent.delete(key);
    for (const key of this.recent.keys()) {
      if (this.recent.size < THROTTLE_KEYS) break;
      this.recent.delete(key);
    }
  }
}

/** A message's kind: its `kind` field, else its text. */
function throttleKey(args: unknown[]): string {
  const first = args[0];
  if (first && typeof first === 'object' && typeof (first as { kind?: unknown }).kind === 'string')
    return `kind:${(first as { kind: string }).kind}`;
  return args.map((a) => (typeof a === 'string' ? a : '')).join('|');
}
