/**
 * Transaction replay (readwritesplit reference §8): while a read-write transaction is open,
 * every statement sent to its server is kept with a checksum of the reply bytes the client
 * received. When the transaction's server is lost (switchover, failover, a broken
 * connection), the session re-runs the statements on the new primary and compares each
 * reply's checksum with the one the client saw: only an identical transaction is carried on.
 *
 * This module keeps the log and the checksums and decides whether a replay may be tried;
 * the session (session.ts) owns the backends and drives the replay.
 */
import { createHash, type Hash } from 'node:crypto';
import type { ConfigObject } from '../../../core/objects.ts';
import type { Reply } from '../../protocol/reply-tracker.ts';
// The global `performance` is a lazy getter: read per call on the hot path. The import is a plain binding.
import { performance } from 'node:perf_hooks';

export type ChecksumMode = 'full' | 'result_only' | 'no_insert_id';

export interface ReplaySettings {
  enabled: boolean;
  maxSize: number;
  attempts: number;
  /** 0: `attempts` counts instead. */
  timeoutMs: number;
  retryOnDeadlock: boolean;
  retryOnMismatch: boolean;
  safeCommit: boolean;
  checksum: ChecksumMode;
}

export function replaySettings(p: ConfigObject['params']): ReplaySettings {
  return {
    // optimistic_trx moves a transaction to the primary by replaying it (§6.1).
    enabled: p.transaction_replay === true || p.optimistic_trx === true,
    maxSize: Number(p.transaction_replay_max_size ?? 1048576),
    attempts: Number(p.transaction_replay_attempts ?? 5),
    timeoutMs: Number(p.transaction_replay_timeout ?? 30) * 1000,
    retryOnDeadlock: p.transaction_replay_retry_on_deadlock === true,
    retryOnMismatch: p.transaction_replay_retry_on_mismatch === true,
    safeCommit: p.transaction_replay_safe_commit !== false,
    checksum: (String(p.transaction_replay_checksum ?? 'full') as ChecksumMode) || 'full',
  };
}

/** One statement of the open transaction, with the checksum of what the client received. */
export interface LoggedStatement<T> {
  packet: Buffer;
  command: number;
  /** The session's own record of the statement (its prepared statement...). */
  ref: T;
  /** Hex digest; '' when the mode does not compare this reply. */
  digest: string;
  /**
   * The reply bytes the client received, so a mismatch can say what differed (logged at
   * debug level); null once the transaction's replies passed KEEP_REPLY_BYTES.
   */
  reply: Buffer | null;
}

/** Reply bytes kept per transaction to explain a mismatch (a sysbench oltp transaction: ~40 KiB). */
export const KEEP_REPLY_BYTES = 64 * 1024;

/** A reply being received: its running checksum, its size, its first packet. */
export class ReplyDigest {
  private readonly hash: Hash = createHash('sha1');
  bytes = 0;
  /** The reply's bytes, while `keep` allows (null: not kept). */
  chunks: Buffer[] | null;

  constructor(private keep = 0) {
    this.chunks = keep > 0 ? [] : null;
  }
  /** Whether the reply is one OK packet (result_only does not compare those). */
  private head: Buffer = Buffer.alloc(0);

  update(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.head.length < 5) this.head = Buffer.concat([this.head, chunk.subarray(0, 5 - this.head.length)]);
    this.hash.update(chunk);
    if (this.chunks) {
      if (this.bytes > this.keep) this.chunks = null;
      else this.chunks.push(Buffer.from(chunk));
    }
  }

  /** The digest `mode` compares for this reply ('' when it compares nothing). */
  digest(mode: ChecksumMode, masterRead: boolean): string {
    const full = this.hash.digest('hex');
    if (mode === 'full') return full;
    if (this.isOk()) return '';
    if (mode === 'no_insert_id' && masterRead) return '';
    return full;
  }

  private isOk(): boolean {
    if (this.head.length < 5) return false;
    const length = this.head.readUIntLE(0, 3);
    return this.head[4] === 0x00 && this.bytes === length + 4;
  }
}

/** The checksum of the first `n` bytes of `bytes`, to compare with a partial reply the client has. */
export function prefixDigest(bytes: Buffer, n: number): string {
  return createHash('sha1').update(bytes.subarray(0, n)).digest('hex');
}

interface Recording<T> {
  packet: Buffer;
  command: number;
  ref: T;
  masterRead: boolean;
  reply: ReplyDigest;
}

/** What a session knows of its open transaction for a replay. */
export class TrxLog<T> {
  readonly entries: Array<LoggedStatement<T>> = [];
  /** A transaction is being recorded (from its first statement until it ends). */
  open = false;
  /** Why the transaction cannot be replayed (too big, COMMIT sent with safe_commit), or null. */
  notReplayable: string | null = null;
  private size = 0;
  /** Reply bytes kept so far (KEEP_REPLY_BYTES). */
  private kept = 0;
  /** When the transaction's first statement was sent (performance.now()). */
  startedAt = 0;
  private current: Recording<T> | null = null;
  /** First replay attempt of this transaction (ms), and how many there were. */
  firstAttemptAt = 0;
  attempts = 0;

  /**
   * `explain`: whether a mismatch will be logged (debug level) — only then are the original
   * reply bytes kept, so that the usual replay costs a checksum per reply and no copy.
   */
  constructor(
    readonly settings: ReplaySettings,
    private readonly explain: () => boolean = () => true,
  ) {}

  /**
   * A statement of the transaction is sent (`starts`: the transaction begins with it).
   * True when this statement made the transaction too big to replay.
   */
  record(
    packet: Buffer,
    command: number,
    ref: T,
    opts: { starts: boolean; masterRead: boolean; commit: boolean },
  ): boolean {
    if (opts.starts || !this.open) this.reset(true);
    this.current = {
      packet: Buffer.from(packet),
      command,
      ref,
      masterRead: opts.masterRead,
      reply: new ReplyDigest(this.explain() ? KEEP_REPLY_BYTES - this.kept : 0),
    };
    if (this.notReplayable) return false;
    if (this.size + packet.length >= this.settings.maxSize) {
      this.notReplayable = `the transaction is larger than transaction_replay_max_size (${this.settings.maxSize} bytes)`;
      return true;
    }
    this.size += packet.length;
    if (opts.commit && this.settings.safeCommit)
      this.notReplayable =
        'its COMMIT was sent, so it may have committed (transaction_replay_safe_commit): its outcome is unknown';
    return false;
  }

  /** Reply bytes of the current statement, as the client receives them. */
  received(chunk: Buffer): void {
    this.current?.reply.update(chunk);
  }

  /** Bytes of the interrupted statement's reply the client already has. */
  get receivedBytes(): number {
    return this.current?.reply.bytes ?? 0;
  }

  /** The checksum of what the client has of the interrupted reply. */
  receivedDigest(): string {
    return this.current ? this.current.reply.digest('full', false) : '';
  }

  /** The current statement's reply is complete. */
  completed(reply: Reply): void {
    const c = this.current;
    this.current = null;
    if (!c || !this.open) return;
    void reply;
    this.entries.push({
      packet: c.packet,
      command: c.command,
      ref: c.ref,
      digest: c.reply.digest(this.settings.checksum, c.masterRead),
      reply: c.reply.chunks ? Buffer.concat(c.reply.chunks) : null,
    });
    this.kept += c.reply.chunks ? c.reply.bytes : 0;
  }

  /**
   * The COMMIT was refused (the server is read-only now): nothing was committed, so the
   * safe_commit rule does not stop a replay.
   */
  commitRefused(): void {
    if (this.notReplayable?.includes('transaction_replay_safe_commit')) this.notReplayable = null;
  }

  /** Forgets the statement in flight (it is run again after a replay, recorded afresh). */
  dropCurrent(): void {
    this.current = null;
  }

  /** The transaction ended (or never was one to record). */
  close(): void {
    // Called after every autocommit statement: nothing to forget is the usual case.
    if (!this.open && this.current === null && this.entries.length === 0 && this.attempts === 0 && !this.notReplayable)
      return;
    this.reset(false);
  }

  /** Whether another replay may start now, or why not. */
  mayReplay(now: number): string | null {
    if (!this.settings.enabled) return 'transaction_replay is off';
    if (this.notReplayable) return this.notReplayable;
    if (this.attempts === 0) this.firstAttemptAt = now;
    if (this.settings.timeoutMs > 0) {
      if (now - this.firstAttemptAt > this.settings.timeoutMs)
        return `transaction_replay_timeout (${this.settings.timeoutMs / 1000}s) exceeded`;
    } else if (this.attempts >= this.settings.attempts) {
      return `transaction_replay_attempts (${this.settings.attempts}) exceeded`;
    }
    this.attempts++;
    return null;
  }

  /** A replay succeeded: later losses of this transaction start counting afresh. */
  replayed(): void {
    this.attempts = 0;
  }

  /** The digest `mode` compares for a replayed reply. */
  digestOf(bytes: Buffer, entry: LoggedStatement<T>, masterRead: boolean): string {
    const d = new ReplyDigest();
    d.update(bytes);
    return entry.digest === '' ? '' : d.digest(this.settings.checksum, masterRead);
  }

  private reset(open: boolean): void {
    // Setting an array's length is a call into the runtime: only when there is something to drop.
    if (this.entries.length) this.entries.length = 0;
    this.size = 0;
    this.kept = 0;
    this.startedAt = open ? performance.now() : 0;
    this.current = null;
    this.notReplayable = null;
    this.attempts = 0;
    this.firstAttemptAt = 0;
    this.open = open;
  }
}

/** Errors that mean "this server cannot carry the transaction on", not "the statement failed" (§6.7). */
export function ignorableError(error: Reply['error'], settings: ReplaySettings): boolean {
  if (!error) return false;
  if (error.code === 1290) return true; // --read-only: the primary was demoted (switchover)
  if (error.code === 1047 && error.sqlState === '08S01') return true;
  return settings.retryOnDeadlock && error.sqlState.startsWith('40');
}

/**
 * Where two replies first differ, for the debug line of a mismatch: the byte offset, and
 * the packet holding it in both (hex and text, 200 bytes at most).
 */
export function describeDifference(original: Buffer, replayed: Buffer): string {
  let at = 0;
  while (at < original.length && at < replayed.length && original[at] === replayed[at]) at++;
  if (at === original.length && at === replayed.length) return 'identical bytes';
  // The packet holding byte `at`.
  let start = 0;
  let index = 0;
  while (start + 4 <= original.length) {
    const len = original.readUIntLE(start, 3);
    if (start + 4 + len > at) break;
    start += 4 + len;
    index++;
  }
  const show = (b: Buffer): string => {
    const len = start + 4 <= b.length ? b.readUIntLE(start, 3) : 0;
    const pkt = b.subarray(start, Math.min(b.length, start + 4 + Math.min(len, 200)));
    return `${pkt.toString('hex')} ${JSON.stringify(pkt.subarray(4).toString('latin1'))}`;
  };
  return (
    `first difference at byte ${at} (packet ${index} at ${start}) of ${original.length} vs ${replayed.length}; ` +
    `original: ${show(original)}; replayed: ${show(replayed)}`
  );
}
