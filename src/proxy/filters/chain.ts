/**
 * A session's filter chain in the query path: a pipeline over client packets and the
 * replies the router session reports, which does not care how many backends there are.
 * Only sessions of services with filters have one.
 *
 * A packet that starts a command (sequence 0) is a statement when it is COM_QUERY,
 * COM_STMT_PREPARE or COM_STMT_EXECUTE: it passes through the filters in order, which may
 * rewrite it, hold it, close the session or attach routing hints; everything else (other
 * commands, LOCAL INFILE data, continuation packets) goes on as it came. Each completed
 * reply (in the client's order) is handed back to the filters with its statement.
 */
import { Command, MAX_PAYLOAD, NO_REPLY } from '../protocol/commands.ts';
import type { Reply } from '../protocol/reply-tracker.ts';
import type { Hint } from '../routing/router.ts';
import type { FilterSession, Statement } from './types.ts';
// The global `performance` is a lazy getter: read per call on the hot path. The import is a plain binding.
import { performance } from 'node:perf_hooks';

const STATEMENTS = new Set<number>([Command.QUERY, Command.STMT_PREPARE, Command.STMT_EXECUTE]);

export interface ChainIo {
  /** Sends a packet on to the router session, with the filters' routing hints. */
  forward(packet: Buffer, hints: Hint[] | null): void;
  /** Closes the session with an error the client sees. */
  refuse(message: string, sequence: number): void;
  pauseClient(): void;
  resumeClient(): void;
  /** Each statement with its completed reply and the server that answered, after the filters saw it (for watchers). */
  observe(statement: Statement, reply: Reply, server: string): void;
  /** A filter threw; the statement went on as if it had not been there. */
  filterFailed(err: Error): void;
}

export class FilterChain {
  /** Statements whose replies are awaited, in order (null: a command no filter saw). */
  private readonly awaiting: Array<Statement | null> = [];
  /** Prepared statements' text (and hints) by the id the client knows them by. */
  private readonly prepared = new Map<number, { sql: string; hints: Hint[] | null }>();
  private readonly pendingPrepares: Array<{ sql: string; hints: Hint[] | null }> = [];
  private queue: Buffer[] = [];
  private holding = false;
  private inContinuation = false;
  private closed = false;
  /** A filter closed the session: nothing more is routed. */
  private refused = false;

  constructor(
    private readonly filters: FilterSession[],
    private readonly io: ChainIo,
  ) {}

  /** One complete client packet. */
  fromClient(packet: Buffer): void {
    if (this.holding || this.queue.length) {
      this.queue.push(packet);
      return this.drain();
    }
    if (!this.closed && !this.refused) this.handle(packet);
  }

  /** The reply to the oldest command awaiting one reached the client, from `server`. */
  reply(reply: Reply, server: string): void {
    const statement = this.awaiting.shift();
    if (!statement) return;
    if (statement.command === Command.STMT_PREPARE) {
      const prepare = this.pendingPrepares.shift();
      if (prepare && reply.statementId !== null) this.prepared.set(reply.statementId, prepare);
    }
    for (let i = this.filters.length - 1; i >= 0; i--) this.safely(() => this.filters[i]!.reply?.(statement, reply));
    this.safely(() => this.io.observe(statement, reply, server));
  }

  /** COM_CHANGE_USER succeeded: the server forgot every prepared statement. */
  changedUser(): void {
    this.prepared.clear();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const f of this.filters) this.safely(() => f.close?.());
  }

  /** A filter that throws (a full disk, say) costs its own work, never the session or the process. */
  private safely<T>(work: () => T): T | undefined {
    try {
      return work();
    } catch (err) {
      this.io.filterFailed(err as Error);
      return undefined;
    }
  }

  private drain(): void {
    while (!this.holding && !this.closed && !this.refused && this.queue.length) this.handle(this.queue.shift()!);
  }

  private handle(raw: Buffer): void {
    const length = raw.length - 4;
    const continuation = this.inContinuation;
    this.inContinuation = length === MAX_PAYLOAD;
    if (continuation || raw[3] !== 0 || length === 0) return this.io.forward(raw, null);
    const command = raw[4]!;
    // A statement id too short to read is the backend's to refuse; the filters skip it.
    const statementId = length >= 5 ? raw.readUInt32LE(5) : -1;
    if (command === Command.STMT_CLOSE) this.prepared.delete(statementId);
    if (command === Command.RESET_CONNECTION) this.prepared.clear();
    const known = command === Command.STMT_EXECUTE ? this.prepared.get(statementId) : undefined;
    // Statements of 16 MiB and more go on as they are: filters see what fits one packet.
    if (!STATEMENTS.has(command) || this.inContinuation || (command === Command.STMT_EXECUTE && !known)) {
      if (!NO_REPLY.has(command)) this.awaiting.push(null);
      return this.io.forward(raw, null);
    }
    const sql = known ? known.sql : raw.toString('utf8', 5);
    const statement: Statement = { sql, command, routedAt: 0, arrivedAt: Date.now() };
    let out = raw;
    let delay = 0;
    // A prepared statement's hints (from its PREPARE) apply to each of its executions.
    let hints: Hint[] | null = known ? known.hints : null;
    for (const f of this.filters) {
      const verdict = this.safely(() => f.statement?.(statement));
      if (!verdict) continue;
      if (verdict.close) {
        // Stop routing at once; the filters are closed with the session (close()).
        this.refused = true;
        return this.io.refuse(verdict.close, 1);
      }
      if (verdict.sql !== undefined && command !== Command.STMT_EXECUTE && verdict.sql !== statement.sql) {
        statement.sql = verdict.sql;
        out = framePackets(Buffer.concat([Buffer.from([command]), Buffer.from(verdict.sql, 'utf8')]));
      }
      if (verdict.delayMs) delay = Math.max(delay, verdict.delayMs);
      if (verdict.hints?.length) hints = [...(hints ?? []), ...verdict.hints];
    }
    if (command === Command.STMT_PREPARE) this.pendingPrepares.push({ sql: statement.sql, hints });
    const send = () => {
      statement.routedAt = performance.now();
      this.awaiting.push(statement);
      // The PREPARE itself goes wherever session commands go; its hints are for its executions.
      this.io.forward(out, command === Command.STMT_PREPARE ? null : hints);
    };
    if (delay <= 0) return send();
    // Held: nothing after it goes before it, and the client is not read meanwhile.
    this.holding = true;
    this.io.pauseClient();
    setTimeout(() => {
      this.holding = false;
      if (this.closed || this.refused) return;
      send();
      this.io.resumeClient();
      this.drain();
    }, delay).unref();
  }
}

/** A command payload as packets: 16 MiB - 1 bytes each, and an empty one after a full last one. */
function framePackets(payload: Buffer): Buffer {
  const packets: Buffer[] = [];
  let sequence = 0;
  for (let i = 0; ; i += MAX_PAYLOAD) {
    const part = payload.subarray(i, i + MAX_PAYLOAD);
    const header = Buffer.alloc(4);
    header.writeUIntLE(part.length, 0, 3);
    header[3] = sequence++ & 0xff;
    packets.push(header, part);
    if (part.length < MAX_PAYLOAD) break;
  }
  return Buffer.concat(packets);
}
