/**
 * What the data plane counts for the metrics beyond its own statistics, kept here so its
 * hooks stay one line each: a server's ERR replies by SQLSTATE class (read from the
 * replies a session already tracks, or by a small packet scanner on the pass-through path),
 * the statements each filter saw, and why sessions closed. Everything is a small fixed set,
 * since it becomes a metric label.
 */
import type { FilterSession } from '../proxy/filters/types.ts';

/**
 * The SQLSTATE classes MariaDB and the SQL standard use (the first two characters). Any
 * other, from a server or a version Weir does not know, is `other`: a label's values stay
 * bounded whatever a server sends.
 */
export const SQLSTATE_CLASSES = [
  '01', '02', '07', '08', '0A', '0K', '0Z', '20', '21', '22', '23', '24', '25', '26', '27', '28',
  '2B', '2D', '2F', '34', '35', '37', '3B', '3C', '3D', '3F', '40', '42', '44', '45', '70', 'HY', 'XA',
] as const; // prettier-ignore
const KNOWN_CLASSES = new Set<string>(SQLSTATE_CLASSES);

/** The label for an error's SQLSTATE: its class, or `other`. */
export function sqlStateClass(sqlState: string): string {
  const c = sqlState.slice(0, 2).toUpperCase();
  return KNOWN_CLASSES.has(c) ? c : 'other';
}

/** Counts one ERR reply of a server (`counts` is the server's runtime.errorsByClass). */
export function countServerError(counts: Map<string, number>, sqlState: string): void {
  const c = sqlStateClass(sqlState);
  counts.set(c, (counts.get(c) ?? 0) + 1);
}

const MAX_PAYLOAD = 0xffffff;

/**
 * Finds the ERR packets in a server's byte stream where nothing else parses it (the
 * pass-through path): it frames packets by their headers only and looks at the first
 * payload byte, 0xff being an ERR (no other server packet starts so: a text row's first
 * length-encoded value never does, binary rows start 0x00, and extended capabilities such
 * as progress reports are not offered). A packet that continues a 16 MiB one is data.
 * Its cost is a few operations per packet; payload bytes are skipped, not read.
 */
export class ErrScanner {
  /** Payload bytes left of the current packet. */
  private left = 0;
  /** Header bytes read so far when a header was split between reads. */
  private headerRead = 0;
  private length = 0;
  /** The next packet continues one of 16 MiB - 1 bytes. */
  private continuation = false;
  /** The payload's first byte is next. */
  private atStart = false;
  /** An ERR's first 9 bytes (0xff, code, '#', SQLSTATE) while they are read. */
  private err: number[] | null = null;

  constructor(private readonly counts: Map<string, number>) {}

  feed(chunk: Buffer): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.headerRead === 0 && !this.atStart && this.left === 0 && this.err === null && i + 4 <= n) {
        // The usual case: the whole header is in this read.
        this.length = chunk[i]! | (chunk[i + 1]! << 8) | (chunk[i + 2]! << 16);
        i += 4;
        this.startPayload();
        continue;
      }
      if (this.left === 0 && !this.atStart && this.err === null) {
        const b = chunk[i++]!;
        if (this.headerRead < 3) this.length |= b << (8 * this.headerRead);
        if (++this.headerRead === 4) {
          this.headerRead = 0;
          this.startPayload();
        }
        continue;
      }
      if (this.atStart) {
        this.atStart = false;
        if (!this.continuation && chunk[i] === 0xff) this.err = [];
      }
      if (this.err !== null) {
        while (this.left > 0 && i < n && this.err.length < 9) {
          this.err.push(chunk[i++]!);
          this.left--;
        }
        if (this.err.length === 9 || this.left === 0) this.countErr();
      }
      const skip = Math.min(this.left, n - i);
      i += skip;
      this.left -= skip;
      if (this.left === 0 && this.err === null && !this.atStart) this.endPacket();
    }
  }

  private startPayload(): void {
    this.left = this.length;
    if (this.length === 0) return this.endPacket();
    this.atStart = true;
  }

  private endPacket(): void {
    this.continuation = this.length === MAX_PAYLOAD;
    this.length = 0;
  }

  private countErr(): void {
    const e = this.err!;
    this.err = null;
    // Error 0xffff is a progress report, not an error (never sent here: not offered).
    if (e.length >= 3 && e[1] === 0xff && e[2] === 0xff) return;
    // 4.1 protocol: '#' and five SQLSTATE characters after the code.
    const sqlState = e.length === 9 && e[3] === 0x23 ? String.fromCharCode(e[4]!, e[5]!) : 'HY';
    countServerError(this.counts, sqlState);
  }
}

/** A filter session that counts the statements it sees into its filter's runtime. */
export function countingFilterSession(session: FilterSession, runtime: { statements: number }): FilterSession {
  return {
    // Filters that only time replies (topfilter) have no statement hook of their own.
    statement: (statement) => {
      runtime.statements++;
      return session.statement?.(statement);
    },
    reply: session.reply && ((statement, reply) => session.reply!(statement, reply)),
    close: session.close && (() => session.close!()),
  };
}

/** Why a session closed, as a metric label. */
export const CLOSE_REASONS = [
  'client_quit',
  'client_closed',
  'client_error',
  'login_failed',
  'idle_timeout',
  'killed',
  'backend_error',
  'protocol_error',
  'shutdown',
  'internal_error',
  'other',
] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];

const CLOSE_PATTERNS: Array<[RegExp, CloseReason]> = [
  [/^client closed the connection$/, 'client_closed'],
  [/^client connection error$/, 'client_error'],
  [/^(Access denied|Weir cannot log|Bad handshake)/, 'login_failed'],
  [/^idle for longer than/, 'idle_timeout'],
  [/closed by an administrator$|^killed by session|^service deleted$/, 'killed'],
  [/^Weir is stopping$/, 'shutdown'],
  [/^(Lost connection to|Could not connect to|Can't connect to|No server of|server ')/, 'backend_error'],
  [/^Malformed /, 'protocol_error'],
  [/^(internal error|Internal error|Weir could not)/, 'internal_error'],
];

/**
 * The label for a session's close: `quit` when the client had sent COM_QUIT, otherwise
 * read from the reason the session logs (the data plane's own texts).
 */
export function closeReason(text: string, quit: boolean): CloseReason {
  if (quit) return 'client_quit';
  for (const [pattern, reason] of CLOSE_PATTERNS) if (pattern.test(text)) return reason;
  return 'other';
}
