/**
 * A readwritesplit session (readwritesplit reference §1-§6): one client, up to one backend
 * connection per server of the service, each statement sent where it belongs.
 *
 * One request is in flight at a time: a client packet that arrives while a reply is owed
 * waits in `queue` and is routed when the reply is complete, so replies reach the client in
 * the order it asked. Packets that do not start a command (LOCAL INFILE data, the rest of a
 * 16 MiB statement) follow the command they belong to.
 */
import {
  sameName,
  serverHasFlag,
  serverStateBits,
  StateBit,
  type ConfigObject,
  newRouterStatistics,
  type RouterStatistics,
  type ServerQueryStatistics,
} from '../../../core/objects.ts';
import type { SessionRouterState } from '../../../core/sessions.ts';
import { Backend, BackendError, type BackendOwner, type Expectation } from '../../backend.ts';
import { writeChangeUser, type ChangeUser } from '../../protocol/change-user.ts';
import { Command, LAST_PREPARED, MAX_PAYLOAD, NO_REPLY } from '../../protocol/commands.ts';
import { tokenFor } from '../../protocol/native-password.ts';
import { errPacket, okPacket } from '../../protocol/packets.ts';
import { newReply, type Reply } from '../../protocol/reply-tracker.ts';
import type { Hint, RouterSession, ServerEvent, SessionHandle } from '../router.ts';
import { CausalReads, type CausalWait } from './causal-reads.ts';
import { classify, Type, type Classification } from './classify.ts';
import { classifyAndRemember, classifyStatement, lookupClassification } from './classifier-cache.ts';
import { SessionCommandHistory, type HistoryEntry } from './history.ts';
import { BackendStatements, readTypes, withStatementId, withTypes, type PreparedStatement } from './prepared.ts';
import { TransactionTracker } from './transaction.ts';
import { rankOf, sessionRank } from './ranks.ts';
import { connectable, DRAINING, lagCloseLimit, usable, whyUnwanted } from './unwanted.ts';
import { registerKillable, runKill, unregisterKillable } from '../kill.ts';
import { killInSql, killRequest, type KillRequest } from '../kill-request.ts';
import { Keepalive } from './keepalive.ts';
import { ReusedPrepares } from './reuse-prepared.ts';
import { levelEnabled } from '../../../log/logger.ts';
import { describeDifference, ignorableError, prefixDigest, replaySettings, TrxLog } from './trx-replay.ts';
import { serverStateChange, waitForServer, type Wait } from './delayed-retry.ts';
// The global `performance` is a lazy getter: read per call on the hot path. The import is a plain binding.
import { performance } from 'node:perf_hooks';

type Target = 'master' | 'slave' | 'all' | 'last';

/** What was decided for a client command, once (state changes happen when it is decided). */
interface Decision {
  packet: Buffer;
  command: number;
  target: Target;
  /** Named servers from hints, tried first (no role check). */
  named: string[];
  /** A lag limit from a hint. */
  maxLag: number;
  /** Recorded in the history once its outcome is known. */
  history: HistoryEntry | null;
  /** Binary prepared statement the command refers to (client id). */
  statement: PreparedStatement | null;
  /** Retries left after losing the backend before anything reached the client. */
  retries: number;
  /** The reply is Weir's own (an error), nothing is routed. */
  local: Buffer | null;
  /** The command has no reply (COM_STMT_CLOSE, COM_QUIT...). */
  noReply: boolean;
  /** A read (for retry_failed_reads). */
  read: boolean;
  /** KILL of a Weir session (or, id -1, of a user's sessions): done by Weir (kill.ts), never routed. */
  kill?: KillRequest;
  /** Uses LAST_INSERT_ID() (transaction_replay_checksum=no_insert_id ignores its result). */
  masterRead: boolean;
  /** Ends the transaction with a commit (transaction_replay_safe_commit). */
  commit: boolean;
  /** delayed_retry: when this statement stops waiting for a server (ms, performance.now()). */
  retryUntil: number;
}

/** The command in flight; `held`: an error kept from the client while Weir decides whether to retry (§6.7). */
interface Current {
  decision: Decision;
  to: RWBackend | null;
  sentToClient: number;
  held: Buffer | null;
}

/** One of the session's connections. A class: replica choice tells it from a server with `instanceof`. */
class RWBackend {
  readonly statements = new BackendStatements();
  constructor(
    readonly backend: Backend,
    public role: 'master' | 'slave',
    /** The service's query statistics for this server (looked up once, counted per statement). */
    readonly stats: ServerQueryStatistics,
  ) {}
}

/** A server of the service and the session's connection to it, if it ever opened one (replica choice's list). */
interface ServerSlot {
  readonly server: ConfigObject;
  rw: RWBackend | null;
}

/**
 * The expectation of a single-target command whose reply goes to the client. A class rather
 * than an object literal with a `done` closure: one is made per statement, and tsx (esbuild's
 * keepNames) gives every such closure its name with Object.defineProperty, ~0.4 µs each.
 */
class ClientReply implements Expectation {
  readonly command: number;
  readonly sink = 'client' as const;
  readonly filter: ((part: Buffer) => Buffer) | undefined;
  constructor(
    private readonly onDone: (e: ClientReply, reply: Reply) => void,
    readonly d: Decision,
    readonly to: RWBackend,
    readonly wait: CausalWait | null,
  ) {
    this.command = d.command;
    this.filter = wait?.filter;
  }
  done(reply: Reply): void {
    this.onDone(this, reply);
  }
}

/** State bits of a replica reads may go to: running and a slave, not in maintenance nor down. */
const USABLE_REPLICA = StateBit.RUNNING | StateBit.SLAVE;

/** A decision's `named` until a hint names a server (shared: never pushed to). */
const NO_NAMES: string[] = [];

export function statisticsOf(service: ConfigObject): RouterStatistics {
  return (service.runtime.router ??= newRouterStatistics());
}

function serverStats(stats: RouterStatistics, server: string): ServerQueryStatistics {
  let s = stats.servers.get(server);
  if (!s) stats.servers.set(server, (s = { total: 0, read: 0, write: 0 }));
  return s;
}

export class RWSplitSession implements RouterSession, BackendOwner {
  readonly passthrough = false;
  private readonly backends = new Map<string, RWBackend>();
  private master: RWBackend | null = null;
  /** Servers this session will not use again (divergent session state, failed login). */
  private readonly failed = new Set<string>();
  private readonly queue: Array<{ packet: Buffer; hints: Hint[] | null }> = [];
  /** The command whose reply the client is waiting for, and where it went. */
  private current: Current | null = null;
  /** Packets that do not start a command go where the last command went. */
  private lastTargets: RWBackend[] = [];
  private readonly oneTarget: RWBackend[] = [];
  private inContinuation = false;
  private busy = false;
  private closed = false;
  private readonly trx = new TransactionTracker();
  private trxTarget: RWBackend | null = null;
  /** optimistic_trx: the open transaction runs on a replica until its first write. */
  private optimistic = false;
  private lastUsed: RWBackend | null = null;
  private readonly history: SessionCommandHistory;
  private readonly statements = new Map<number, PreparedStatement>();
  private readonly textStatements = new Map<string, Classification | null>();
  private nextStatementId = 1;
  private lastPrepared = 0;
  private readonly temporaryTables = new Set<string>();
  private database: string | null;
  /** strict_multi_stmt/strict_sp_calls, SERIALIZABLE, a pending SET TRANSACTION: everything to the primary. */
  private lockedToMaster = false;
  private serializable = false;
  private nextTrxPending = false;
  /** Why the primary may not be silently replaced (GET_LOCK). */
  private unsafeToReconnect: string | null = null;
  /** fail_instantly: the primary was lost, so it may not be replaced. */
  private masterLost = false;
  private readonly stats: RouterStatistics;
  /** Backends being brought to the session's state: how to tell the waiter they were lost. */
  private readonly replayWaiters = new Map<Backend, () => void>();
  /** PREPAREs answered by their replier, waiting for the other backends' ids. */
  private readonly prepareWaits = new Set<{ awaiting: Set<RWBackend>; done: (() => void) | null }>();
  private readonly p: ConfigObject['params'];
  private readonly keepalive: Keepalive;
  private readonly reused: ReusedPrepares;
  private readonly causal: CausalReads;
  /** Reads whose GTID probe was done (universal causal reads): routed without another. */
  private readonly probed = new WeakSet<Decision>();
  /** transaction_replay: the open transaction's statements and their checksums. */
  private readonly replay: TrxLog<Decision>;
  private replaying = false;
  /** A delayed_retry or replay wait for a primary (cancelled when the session closes). */
  private waiting: Wait<unknown> | null = null;
  /** A primary that refused a write as read-only (demoted by a switchover): not used while it is still called primary. */
  private avoidMaster: string | null = null;
  /** A server this session holds changed (maintenance, draining, rank, lag): closeUnwanted looks at the next safe point. */
  private recheck = false;
  /** open() is still connecting: not a safe point. */
  private opening = true;
  /** A replica connection lagging more than this (s) is closed; 0: never (lagCloseLimit). */
  private readonly lagLimit: number;
  private avoidWait: Wait<true> | null = null;

  /**
   * Parameters read per statement, read once: `p` is the parameters object the session
   * started with (an alter replaces the object), so these are the same values, without a
   * dictionary lookup per statement.
   */
  private readonly varsInMaster: boolean;
  private readonly maxSlaves: number;
  private readonly configuredMaxLag: number;
  private readonly masterAcceptReads: boolean;
  /** slave_selection_criteria, lower-cased (upper-case values are accepted, deprecated). */
  private readonly selectionCriteria: string;

  constructor(private readonly s: SessionHandle) {
    this.p = s.service.params;
    this.varsInMaster = this.p.use_sql_variables_in === 'master';
    this.maxSlaves = Number(this.p.max_slave_connections ?? 255);
    this.configuredMaxLag = Number(this.p.max_replication_lag ?? 0);
    this.masterAcceptReads = this.p.master_accept_reads === true;
    this.selectionCriteria = String(this.p.slave_selection_criteria ?? 'least_current_operations').toLowerCase();
    this.lagLimit = lagCloseLimit(this.configuredMaxLag);
    this.replay = new TrxLog(replaySettings(this.p), () => levelEnabled(this.s.logger, 'debug'));
    this.stats = statisticsOf(s.service);
    this.causal = new CausalReads(this.p, this.stats);
    this.history = new SessionCommandHistory({
      max: Number(this.p.max_sescmd_history ?? 50),
      prune: this.p.prune_sescmd_history !== false,
      disabled: this.p.disable_sescmd_history === true,
    });
    this.database = s.credentials().database;
    this.keepalive = new Keepalive(Number(this.p.connection_keepalive ?? 300), () =>
      [...this.backends.values()].map((b) => b.backend),
    );
    this.reused = new ReusedPrepares(this.p.reuse_prepared_statements === true);
    registerKillable(s.id, () =>
      [...this.backends.values()]
        .filter((b) => !b.backend.closed)
        .map((b) => ({ server: b.backend.server, threadId: b.backend.threadId })),
    );
  }

  // ---- parameters ----
  private get failureMode(): string {
    return this.p.lazy_connect === true || this.replay.settings.enabled
      ? 'fail_on_write'
      : String(this.p.master_failure_mode ?? 'fail_on_write');
  }
  private get masterReconnection(): boolean {
    if (this.p.disable_sescmd_history === true) return false;
    return this.p.lazy_connect === true || this.replay.settings.enabled || this.p.master_reconnection !== false;
  }
  /** transaction_replay implies delayed_retry, with at least the replay's time (§6.1). */
  private get delayedRetry(): boolean {
    return this.p.delayed_retry === true || this.replay.settings.enabled;
  }
  private get delayedRetryMs(): number {
    const ms = Number(this.p.delayed_retry_timeout ?? 10) * 1000;
    return this.replay.settings.enabled ? Math.max(ms, this.replay.settings.timeoutMs) : ms;
  }

  // ---- session start ----

  async open(): Promise<void> {
    try {
      await this.openBackends();
    } finally {
      this.opening = false;
    }
    if (this.recheck) this.closeUnwanted();
  }

  private async openBackends(): Promise<void> {
    if (this.p.lazy_connect === true) return;
    const master = this.bestMaster();
    if (!master && this.failureMode === 'fail_instantly') {
      throw new BackendError(
        2003,
        'HY000',
        `Couldn't find suitable Primary from ${this.s.servers().length} candidates for service '${this.s.service.name}'`,
      );
    }
    if (master) {
      try {
        await this.connect(master, 'master');
      } catch (err) {
        if (this.failureMode === 'fail_instantly') throw err;
        this.log(`cannot connect to primary '${master.name}': ${(err as Error).message}`);
      }
    }
    const wanted = Math.min(this.maxSlaves, Number(this.p.slave_connections ?? 255));
    const replicas = this.s
      .servers()
      .filter((s) => this.isReplicaCandidate(s, this.maxLag(0)) && connectable(s))
      .sort((a, b) => a.runtime.currentConnections - b.runtime.currentConnections);
    for (const server of replicas.slice(0, wanted)) {
      try {
        await this.connect(server, 'slave');
      } catch (err) {
        this.log(`cannot connect to replica '${server.name}': ${(err as Error).message}`);
      }
    }
    if (this.backends.size === 0) {
      throw new BackendError(
        2003,
        'HY000',
        `No server of service '${this.s.service.name}' can take the session; check the servers' states`,
      );
    }
  }

  // ---- client packets ----

  routeQuery(packet: Buffer, hints: Hint[] | null): void {
    if (this.closed) return;
    const continuation = this.inContinuation;
    this.inContinuation = packet.length - 4 === MAX_PAYLOAD;
    const startsCommand = !continuation && packet[3] === 0 && packet.length > 4;
    if (!startsCommand && this.queue.length === 0) {
      // LOCAL INFILE data or the rest of a large statement: where its command went.
      for (const b of this.lastTargets) b.backend.write(packet);
      return;
    }
    if (!this.busy && this.queue.length === 0) {
      // Nothing waits: route it now, without queueing it (the usual case, one statement at a time).
      this.routeOne(packet, hints);
      this.pump();
      return;
    }
    this.queue.push({ packet, hints });
    this.pump();
  }

  forwardRaw(chunk: Buffer): void {
    this.routeQuery(chunk, null);
  }

  private pump(): void {
    while (!this.busy && !this.closed && this.queue.length) {
      const { packet, hints } = this.queue.shift()!;
      if (!this.routeOne(packet, hints)) return;
    }
  }

  /** Routes one packet from the queue (or that would be first in it); false when the session failed. */
  private routeOne(packet: Buffer, hints: Hint[] | null): boolean {
    const startsCommand = packet[3] === 0 && packet.length > 4;
    if (!startsCommand) {
      for (const b of this.lastTargets) b.backend.write(packet);
      return true;
    }
    if (this.recheck) this.closeUnwanted();
    let decision: Decision;
    try {
      decision = this.decide(packet, hints);
    } catch (err) {
      // A packet Weir cannot make sense of costs this session, never the process.
      this.s.fail(1105, 'HY000', `Weir could not route the statement: ${(err as Error).message}`);
      return false;
    }
    this.dispatch(decision);
    return true;
  }

  // ---- deciding where a command goes ----

  private decision(packet: Buffer, command: number, target: Target, extra: Partial<Decision> | null = null): Decision {
    const d: Decision = {
      packet,
      command,
      target,
      named: NO_NAMES,
      maxLag: 0,
      history: null,
      statement: null,
      retries: 1,
      local: null,
      noReply: false,
      read: false,
      masterRead: false,
      commit: false,
      retryUntil: 0,
    };
    // Most statements have no extras: no spread (it runs per statement).
    return extra ? Object.assign(d, extra) : d;
  }

  private decide(packet: Buffer, hints: Hint[] | null): Decision {
    const command = packet[4]!;
    const length = packet.length - 4;
    switch (command) {
      case Command.QUERY:
        return this.decideQuery(packet, hints);
      case Command.STMT_PREPARE: {
        const sql = packet.toString('utf8', 5);
        const reused = this.reused.get(sql);
        if (reused && this.statements.has(reused.id)) {
          this.stats.prepared_statements_reused++;
          this.lastPrepared = reused.id;
          return this.decision(packet, command, 'all', { local: reused.response });
        }
        const id = this.nextStatementId++;
        const statement: PreparedStatement = {
          id,
          sql,
          classification: classifyStatement(sql),
          parameters: 0,
          types: null,
        };
        const entry: HistoryEntry = { packet: Buffer.from(packet), command, statementId: id, ok: null };
        return this.decision(packet, command, 'all', { history: entry, statement });
      }
      case Command.STMT_EXECUTE:
      case Command.STMT_FETCH:
      case Command.STMT_SEND_LONG_DATA:
      case Command.STMT_RESET:
      case Command.STMT_CLOSE:
      case Command.STMT_BULK_EXECUTE: {
        const raw = length >= 5 ? packet.readUInt32LE(5) : -1;
        const id = raw === LAST_PREPARED ? this.lastPrepared : raw;
        const statement = this.statements.get(id) ?? null;
        const noReply = NO_REPLY.has(command);
        if (!statement) {
          if (noReply) return this.decision(packet, command, 'master', { noReply: true, local: Buffer.alloc(0) });
          return this.decision(packet, command, 'master', {
            local: errPacket(1, 1243, 'HY000', `Unknown prepared statement handler (${raw}) given to Weir`),
          });
        }
        if (command === Command.STMT_CLOSE) {
          // Reused statements stay open for the next PREPARE of the same SQL.
          if (this.reused.enabled)
            return this.decision(packet, command, 'all', { noReply: true, local: Buffer.alloc(0) });
          this.statements.delete(id);
          this.history.forgetStatement(id);
          return this.decision(packet, command, 'all', { statement, noReply: true });
        }
        if (command === Command.STMT_RESET) return this.decision(packet, command, 'all', { statement });
        if (command === Command.STMT_FETCH || command === Command.STMT_SEND_LONG_DATA) {
          // Where the statement last ran (its cursor, its long data).
          return this.decision(packet, command, 'last', { statement, noReply });
        }
        if (command === Command.STMT_EXECUTE && statement.parameters > 0) {
          const types = readTypes(packet, statement.parameters);
          if (types) statement.types = types;
        }
        return this.routed(packet, command, statement.classification, hints, { statement });
      }
      case Command.INIT_DB:
        return this.decision(packet, command, 'all', {
          history: { packet: Buffer.from(packet), command, statementId: null, ok: null },
        });
      case Command.SET_OPTION:
        this.causal.setOption(packet);
        return this.decision(packet, command, 'all', {
          history: { packet: Buffer.from(packet), command, statementId: null, ok: null },
        });
      case Command.PING:
        return this.decision(packet, command, 'all');
      case Command.RESET_CONNECTION:
        this.resetState();
        return this.decision(packet, command, 'all');
      case Command.QUIT:
        return this.decision(packet, command, 'all', { noReply: true });
      case Command.FIELD_LIST:
        return this.routed(packet, command, { ...classify(''), type: Type.READ }, hints);
      case Command.PROCESS_KILL:
        return this.decision(packet, command, 'master', { kill: killRequest(packet)! });
      default:
        // COM_STATISTICS, COM_PROCESS_INFO, COM_CREATE_DB, COM_DROP_DB, COM_DEBUG...
        return this.routed(packet, command, { ...classify(''), type: Type.WRITE }, hints);
    }
  }

  private decideQuery(packet: Buffer, hints: Hint[] | null): Decision {
    // A SELECT of a form already classified is routed without being decoded (a SELECT is
    // never a KILL nor a text prepare, the two uses of the text below).
    const cached = lookupClassification(packet, 5);
    if (cached !== null) return this.routed(packet, Command.QUERY, cached, hints);
    const sql = packet.toString('utf8', 5);
    const c = classifyAndRemember(packet, 5, sql);
    const kill = killInSql(sql, c);
    if (kill) return this.decision(packet, Command.QUERY, 'master', { kill });
    if (c.type & Type.PREPARE_NAMED_STMT && c.preparedName) {
      this.textStatements.set(c.preparedName, c.preparedSql !== null ? classify(c.preparedSql) : null);
    }
    if (c.type & Type.DEALLOC_PREPARE && c.preparedName) this.textStatements.delete(c.preparedName);
    let effective = c;
    if (c.type & Type.EXEC_STMT) {
      // EXECUTE name: the type of what was prepared under that name (unknown: the primary).
      const stored = c.preparedName ? this.textStatements.get(c.preparedName) : null;
      effective = stored ? { ...stored } : { ...c, type: Type.WRITE };
    }
    return this.routed(packet, Command.QUERY, effective, hints);
  }

  /** The target of a statement by MaxScale's rules (§2.2, §3), then hints (§9.2). */
  private routed(
    packet: Buffer,
    command: number,
    c: Classification,
    hints: Hint[] | null,
    extra: Partial<Decision> | null = null,
  ): Decision {
    const type = c.type;
    const varsInMaster = this.varsInMaster;
    // Transaction state first: it decides where this statement belongs.
    this.trx.onStatement(type, c.readOnlyTrx);
    if (!this.trx.active || this.trx.starting) {
      this.trxTarget = null;
      this.optimistic = false;
    }
    if (c.multiStatement && this.p.strict_multi_stmt === true) this.lockedToMaster = true;
    if (c.call && this.p.strict_sp_calls === true) this.lockedToMaster = true;
    if (c.usesLock) this.unsafeToReconnect = 'the session used GET_LOCK()';
    if (c.isolation !== null && type & Type.SESSION_WRITE) this.serializable = c.isolation === 'SERIALIZABLE';
    if (c.createdTemporary) this.temporaryTables.add(this.qualify(c.createdTemporary));
    // An index loop: a cached classification's arrays are frozen, which for...of walks through
    // the generic iterator (~25 ns per statement even when empty).
    for (let i = 0; i < c.dropped.length; i++) this.temporaryTables.delete(this.qualify(c.dropped[i]!));

    let target: Target;
    const sessionCommand =
      !(type & Type.WRITE) &&
      (type & Type.SESSION_WRITE ||
        (type & Type.USERVAR_WRITE && !varsInMaster) ||
        type & Type.GSYSVAR_WRITE ||
        type & (Type.ENABLE_AUTOCOMMIT | Type.DISABLE_AUTOCOMMIT));
    let readOnly =
      !(type & (Type.MASTER_READ | Type.WRITE)) &&
      (type & (Type.READ | Type.USERVAR_READ | Type.SYSVAR_READ | Type.GSYSVAR_READ)) !== 0;
    if (readOnly && type & Type.USERVAR_READ && varsInMaster) readOnly = false;
    if (readOnly && type & Type.USERVAR_WRITE && varsInMaster) readOnly = false;
    if (readOnly && this.temporaryTables.size && c.tables.some((t) => this.temporaryTables.has(this.qualify(t))))
      readOnly = false;
    if (type & (Type.PREPARE_NAMED_STMT | Type.DEALLOC_PREPARE)) target = 'all';
    else if (type & Type.NEXT_TRX) {
      target = 'master';
      this.nextTrxPending = true;
    } else if (sessionCommand) target = 'all';
    else if (!this.trx.active && readOnly) target = 'slave';
    else if (this.trx.active && this.trx.readOnly) target = 'slave';
    else if (this.optimisticTarget(type, readOnly)) target = 'slave';
    else target = 'master';
    if (this.trx.active && !readOnly && !(type & (Type.BEGIN_TRX | Type.COMMIT | Type.ROLLBACK)))
      this.trx.allReads = false;
    if (type & (Type.COMMIT | Type.ROLLBACK) && this.trx.ending) {
      if (this.trx.allReads) this.stats.ro_transactions++;
      else this.stats.rw_transactions++;
    }

    if (target !== 'all' && (this.lockedToMaster || this.serializable || this.nextTrxPending)) target = 'master';
    if (target === 'slave' && c.relatesToPrevious && !this.trx.active) target = 'last';
    if (target === 'slave' && this.maxSlaves === 0) target = 'master';

    const d = this.decision(packet, command, target, extra);
    d.read = target === 'slave' || target === 'last';
    d.masterRead = (type & Type.MASTER_READ) !== 0;
    d.commit = this.trx.ending && !(type & Type.ROLLBACK);
    // Session commands are kept for backends opened later; SET GLOBAL is not (it is not the session's).
    if (target === 'all' && (type & ~Type.GSYSVAR_WRITE) !== 0)
      d.history = { packet: Buffer.from(packet), command, statementId: null, ok: null };
    // A transaction's statements go where it runs: hints do not move them.
    if (this.trx.active && this.trxTarget && !this.trxTarget.backend.closed) return d;
    if (hints === null) return d;
    for (const h of hints) {
      if (h.type === 'master') {
        d.target = 'master';
        d.history = null;
        break;
      }
      if (d.target === 'all') continue;
      if (h.type === 'slave') d.target = 'slave';
      else if (h.type === 'last') d.target = 'last';
      else if (h.type === 'server') (d.named === NO_NAMES ? (d.named = []) : d.named).push(h.server);
      else if (h.type === 'lag' && h.seconds > 0) d.maxLag = h.seconds;
    }
    return d;
  }

  /**
   * optimistic_trx (§8.3): a transaction starts on a replica and stays there while it only
   * reads (its BEGIN, its reads, its COMMIT or ROLLBACK); its first other statement moves it
   * to the primary (choose). Starts with BEGIN, or with a read after `SET autocommit=0`.
   */
  private optimisticTarget(type: number, readOnly: boolean): boolean {
    if (!this.trx.active) return false;
    if (this.optimistic) return readOnly || (type & (Type.BEGIN_TRX | Type.COMMIT | Type.ROLLBACK)) !== 0;
    if (this.p.optimistic_trx !== true || this.trxTarget !== null) return false;
    if (this.lockedToMaster || this.serializable || this.nextTrxPending) return false;
    if (!(type & Type.BEGIN_TRX) && !readOnly) return false;
    this.optimistic = true;
    return true;
  }

  private qualify(table: string): string {
    return table.includes('.') ? table : `${this.database ?? ''}.${table}`;
  }

  // ---- sending ----

  private dispatch(d: Decision): void {
    if (d.kill) return this.runKill(d.kill);
    if (d.local) {
      if (d.local.length) this.answerLocally(d.local);
      return;
    }
    if (d.target === 'all') return this.routeToAll(d);
    if (this.causalProbe(d)) return;
    const chosen = this.choose(d);
    if (chosen === 'wait') return;
    if (chosen === null) return;
    this.send(d, chosen);
  }

  /** The backend for a single-target command; 'wait' while one is being connected; null when it was answered or failed. */
  private choose(d: Decision): RWBackend | 'wait' | null {
    // Inside a transaction: where it runs (moved first when its primary is not the primary any more).
    if (this.trx.active && this.trxTarget && !this.trxTarget.backend.closed) {
      if (this.optimistic && d.target === 'master' && this.trxTarget !== this.master) {
        // The optimistic transaction's first write: closing the replica's connection rolls
        // the transaction back there; the replay runs it again on the primary, then the write.
        this.optimistic = false;
        this.log(`optimistic transaction on '${this.trxTarget.backend.server.name}' writes: moving it to the primary`);
        this.startReplay(
          this.trxTarget,
          { decision: d, to: null, sentToClient: 0, held: null },
          `The optimistic transaction on '${this.trxTarget.backend.server.name}' could not move to the primary`,
        );
        return null;
      }
      if (this.shouldMigrate(this.trxTarget)) {
        this.startReplay(this.trxTarget, { decision: d, to: null, sentToClient: 0, held: null });
        return null;
      }
      return this.trxTarget;
    }
    for (let i = 0; i < d.named.length; i++) {
      const name = d.named[i]!;
      const b = this.backendByName(name);
      if (b) return b;
      const server = this.s.servers().find((s) => sameName(s.name, name));
      if (server && connectable(server) && !this.failed.has(server.name) && this.history.canRecover)
        return this.connectThen(d, server, this.isMasterServer(server) ? 'master' : 'slave');
    }
    let target = d.target;
    if (target === 'last') {
      if (this.lastUsed && !this.lastUsed.backend.closed) return this.lastUsed;
      target = d.command === Command.STMT_FETCH || d.command === Command.STMT_SEND_LONG_DATA ? 'master' : 'slave';
    }
    if (target === 'slave') {
      const replica = this.pickReader(d.maxLag);
      if (replica instanceof RWBackend) return replica;
      if (replica) return this.connectThen(d, replica, this.isMasterServer(replica) ? 'master' : 'slave');
      // No replica can take it: the primary does.
    }
    return this.chooseMaster(d);
  }

  private chooseMaster(d: Decision): RWBackend | 'wait' | null {
    const best = this.bestMaster();
    const m = this.master && !this.master.backend.closed ? this.master : null;
    if (m && best && sameName(best.name, m.backend.server.name)) return m;
    if (!best) {
      // The monitor knows no primary: reads may still use the old one, writes may not.
      if (m && d.read) return m;
      if (this.delayedRetry) return this.delayUntilPrimary(d);
      this.noMaster(d, 'No primary is available');
      return null;
    }
    if (this.failed.has(best.name)) {
      // The monitor still calls primary a server this session could not use: wait for another (a failover).
      if (this.delayedRetry) return this.delayUntilPrimary(d);
      this.noMaster(d, `The primary '${best.name}' failed in this session`);
      return null;
    }
    if (!m) {
      if (this.backendByName(best.name) || this.backends.size === 0 || this.history.canRecover)
        return this.adoptOrConnect(d, best);
      this.noMaster(d, 'The session state cannot be recovered on a new primary');
      return null;
    }
    if (!this.canReplaceMaster()) {
      this.noMaster(d, `Cannot replace old primary with '${best.name}'${this.whyNotReplaceable()}`);
      return null;
    }
    this.log(`replacing old primary '${m.backend.server.name}' with '${best.name}'`);
    this.stats.reconnections++;
    // The old primary's connection holds the session's state: it stays, as a replica if it is one now.
    m.role = 'slave';
    m.backend.view.role = 'slave';
    this.master = null;
    if (!this.isReplicaCandidate(m.backend.server, 0)) this.drop(m);
    return this.adoptOrConnect(d, best);
  }

  /** The new primary: a connection the session already has to it (a replica until now), or a new one. */
  private adoptOrConnect(d: Decision, server: ConfigObject): RWBackend | 'wait' {
    const open = this.backendByName(server.name);
    if (!open) return this.connectThen(d, server, 'master');
    open.role = 'master';
    open.backend.view.role = 'master';
    this.master = open;
    this.masterLost = false;
    this.publishBackends();
    return open;
  }

  private canReplaceMaster(): boolean {
    if (!this.masterReconnection || (this.failureMode === 'fail_instantly' && this.masterLost)) return false;
    if (this.trx.active && !this.trx.starting) return false;
    if (this.lockedToMaster || this.nextTrxPending || this.serializable || this.unsafeToReconnect) return false;
    if (this.temporaryTables.size && this.p.strict_tmp_tables !== false) return false;
    return this.history.canRecover;
  }

  /** Why the session cannot move to a new primary, for the client's error. */
  private whyNotReplaceable(): string {
    if (!this.masterReconnection) return ' (master_reconnection is off)';
    if (this.unsafeToReconnect) return `: unsafe to reconnect (${this.unsafeToReconnect})`;
    if (this.temporaryTables.size && this.p.strict_tmp_tables !== false)
      return ': the session has temporary tables, which the new primary does not have';
    if (this.trx.active && !this.trx.starting) return ': a transaction is open';
    if (this.lockedToMaster || this.nextTrxPending || this.serializable)
      return ': the session is locked to its primary (strict_multi_stmt, strict_sp_calls, SERIALIZABLE or SET TRANSACTION)';
    if (!this.history.canRecover) return ': the session command history is incomplete (max_sescmd_history)';
    return '';
  }

  /** A write with no primary to send it to: master_failure_mode decides (§6.2). */
  private noMaster(d: Decision, reason: string): void {
    if (this.failureMode === 'error_on_write') {
      this.answerLocally(
        errPacket(
          1,
          1290,
          'HY000',
          'The MariaDB server is running with the --read-only option so it cannot execute this statement',
        ),
      );
      return;
    }
    const what = d.read ? 'Read' : 'Write';
    this.s.fail(
      2003,
      'HY000',
      `${what} query received from ${this.s.user}@${this.s.address}. ${reason}. Closing client connection.`,
    );
  }

  /** Connects `server` (replaying the history), then routes `d` again. */
  private connectThen(d: Decision, server: ConfigObject, role: 'master' | 'slave'): 'wait' {
    this.busy = true;
    this.connect(server, role)
      .then(
        () => {
          this.busy = false;
          if (this.closed) return;
          this.dispatch(d);
          this.pump();
        },
        (err: unknown) => {
          this.busy = false;
          if (this.closed) return;
          this.failed.add(server.name);
          this.log(`cannot connect to '${server.name}': ${(err as Error).message}`);
          if (d.retries-- > 0) {
            this.dispatch(d);
            this.pump();
          } else this.s.fail(2003, 'HY000', `Could not connect to server '${server.name}': ${(err as Error).message}`);
        },
      )
      .catch((err: unknown) => this.s.fail(1105, 'HY000', `Internal error: ${(err as Error).message}`));
    return 'wait';
  }

  private send(d: Decision, to: RWBackend): void {
    const st = d.statement;
    // A backend that failed the PREPARE (or never got it) cannot run it: the primary can.
    if (
      st &&
      !to.statements.ids.has(st.id) &&
      this.master &&
      !this.master.backend.closed &&
      this.master.statements.ids.has(st.id)
    )
      to = this.master;
    const packet = this.packetFor(d, to);
    if (!packet) {
      if (d.noReply) return;
      this.answerLocally(errPacket(1, 1243, 'HY000', `Unknown prepared statement handler (${st!.id}) given to Weir`));
      return;
    }
    this.count(d, to);
    // One array reused for a single target (a session alternating between replicas made one per read).
    this.oneTarget[0] = to;
    this.lastTargets = this.oneTarget;
    if (d.command !== Command.STMT_FETCH) this.lastUsed = to;
    if (this.trx.active && !this.trxTarget) this.trxTarget = to;
    if (this.trx.ending) this.nextTrxPending = false;
    if (d.noReply) {
      to.backend.write(packet);
      return;
    }
    this.begin(d, to);
    if (
      this.replay.settings.enabled &&
      this.trx.active &&
      to === this.trxTarget &&
      (to === this.master || this.optimistic) &&
      this.replay.record(d.packet, d.command, d, {
        starts: this.trx.starting,
        masterRead: d.masterRead,
        commit: d.commit,
      })
    )
      this.stats.trx_max_size_exceeded++;
    // causal_reads: a read on a replica first waits for the GTID it must see (causal-reads.ts);
    // not one that reads what the previous statement left (FOUND_ROWS(): the wait would reset it).
    const wait =
      to.role === 'slave' && d.target === 'slave' && !(this.trx.active && !this.trx.starting)
        ? this.causal.waitFor(d.command, packet, to.backend)
        : null;
    this.causal.routed();
    if (wait?.sync) this.write(to, wait.sync.packet, { command: Command.QUERY, sink: 'discard', done: wait.sync.done });
    this.write(to, wait ? wait.packet : packet, new ClientReply(this.replyDone, d, to, wait));
  }

  /** A single-target command's reply reached the client whole (ClientReply); made once per session. */
  private readonly replyDone = (e: ClientReply, reply: Reply): void => {
    const { d, to, wait } = e;
    // The backend stamped the write (lastWriteAt) and the tracker the reply's last byte.
    const took = reply.completedAt - to.backend.lastWriteAt;
    const runtime = to.backend.server.runtime;
    runtime.averageReplyMs = runtime.averageReplyMs < 0 ? took : 0.8 * runtime.averageReplyMs + 0.2 * took;
    if (wait?.timedOut()) return this.causalTimedOut(d, to, wait.why());
    this.finished(d, to, reply);
  };

  /** Universal causal reads: the primary's GTID position first (§7.2), then the read is routed. */
  private causalProbe(d: Decision): boolean {
    if (!this.causal.needsProbe(d.command) || d.target !== 'slave' || d.named.length || this.probed.has(d))
      return false;
    if (this.trx.active && !this.trx.starting) return false;
    const m = this.master && !this.master.backend.closed ? this.master : null;
    if (!m) return false;
    this.probed.add(d);
    this.begin(d, m);
    this.write(m, this.causal.probePacket(), {
      command: Command.QUERY,
      sink: 'buffer',
      done: (reply, bytes) => {
        this.current = null;
        this.busy = false;
        if (this.closed) return;
        // No answer to go by: the primary takes the read.
        if (!this.causal.probeAnswered(reply, bytes, m.backend)) d.target = 'master';
        this.dispatch(d);
        this.pump();
      },
    });
    return true;
  }

  /** The replica did not reach the GTID in time: the read runs on the primary (§7.3). */
  private causalTimedOut(d: Decision, from: RWBackend, why: string): void {
    this.current = null;
    this.busy = false;
    if (this.trx.active) {
      this.answerLocally(
        errPacket(1, 1792, '25006', 'Causal read timed out while in a read-only transaction, cannot retry command.'),
      );
    } else {
      this.log(`causal read timed out on '${from.backend.server.name}' (${why}); running it on the primary`);
      d.target = 'master';
      d.named = [];
      this.dispatch(d);
    }
    this.pump();
  }

  /** The command as backend `to` gets it (its own prepared statement id); null: it does not know the statement. */
  private packetFor(d: Decision, to: RWBackend): Buffer | null {
    const st = d.statement;
    if (!st) return d.packet;
    const internal = to.statements.ids.get(st.id);
    if (internal === undefined) return null;
    let packet = withStatementId(d.packet, internal);
    if (d.command === Command.STMT_EXECUTE && st.parameters > 0) {
      if (readTypes(packet, st.parameters)) to.statements.typesSent.add(st.id);
      else if (!to.statements.typesSent.has(st.id) && st.types) {
        packet = withTypes(packet, st.parameters, st.types);
        to.statements.typesSent.add(st.id);
      }
    }
    return packet;
  }

  /** A session command: every open backend, the replier's answer to the client (§4.1). */
  private routeToAll(d: Decision): void {
    if (d.command === Command.QUIT) {
      for (const b of this.backends.values()) b.backend.write(d.packet);
      return;
    }
    const open = [...this.backends.values()].filter((b) => !b.backend.closed);
    if (open.length === 0) {
      // Nothing open yet (lazy_connect, or everything lost): open one, the primary only if it takes reads.
      const server =
        this.p.master_accept_reads === true || this.trx.inReadWriteTransaction
          ? (this.bestMaster() ?? this.pickNewReplica(0))
          : (this.pickNewReplica(0) ?? this.bestMaster());
      if (!server || !this.history.canRecover)
        return this.s.fail(2003, 'HY000', `No server of service '${this.s.service.name}' can take the session`);
      this.connectThen(d, server, this.isMasterServer(server) ? 'master' : 'slave');
      return;
    }
    const replier =
      this.trx.active && this.trxTarget && !this.trxTarget.backend.closed
        ? this.trxTarget
        : this.master && !this.master.backend.closed
          ? this.master
          : open[0]!;
    this.count(d, open);
    this.lastTargets = open;
    if (d.history) d.history.ok = null;
    const outcomes = new Map<RWBackend, boolean>();
    let replierOk: boolean | null = null;
    const compare = () => {
      if (replierOk === null) return;
      for (const [b, ok] of outcomes) {
        if (ok !== replierOk) {
          this.log(
            `response from server '${b.backend.server.name}' differs from the expected response to ${commandName(d.command)}; closing that connection due to inconsistent session state`,
          );
          this.failed.add(b.backend.server.name);
          this.discard(b);
        }
      }
      outcomes.clear();
    };
    if (d.noReply) {
      for (const b of open) b.backend.write(this.forBackend(d, b) ?? d.packet);
      return;
    }
    this.begin(d, replier);
    const prepare = d.command === Command.STMT_PREPARE;
    // A PREPARE is answered once every backend has its id for it: an EXECUTE right after
    // must not find a replica still preparing.
    const wait = prepare ? { awaiting: new Set(open), done: null as (() => void) | null } : null;
    if (wait) this.prepareWaits.add(wait);
    const settled = (b: RWBackend) => {
      if (!wait) return;
      wait.awaiting.delete(b);
      if (wait.awaiting.size === 0 && wait.done) {
        this.prepareWaits.delete(wait);
        wait.done();
      }
    };
    for (const b of open) {
      const packet = this.forBackend(d, b);
      if (!packet) {
        settled(b);
        continue;
      }
      if (b === replier) {
        this.write(b, packet, {
          command: d.command,
          sink: prepare ? 'buffer' : 'client',
          done: (reply, bytes) => {
            replierOk = reply.error === null;
            const answer = () => {
              if (prepare) this.preparedOn(b, d, reply, bytes);
              this.finished(d, b, reply);
              compare();
            };
            if (!wait) return answer();
            wait.done = answer;
            settled(b);
          },
        });
      } else {
        this.write(b, packet, {
          command: d.command,
          sink: 'discard',
          done: (reply) => {
            if (prepare && reply.error === null && reply.statementId !== null)
              b.statements.ids.set(d.statement!.id, reply.statementId);
            outcomes.set(b, reply.error === null);
            settled(b);
            compare();
            // A connection judged unwanted while this answer was owed goes now (a safe point).
            if (this.recheck) this.closeUnwanted();
          },
        });
      }
    }
  }

  /** A session command as one backend gets it (a prepared statement's id is per backend); null: nothing to send. */
  private forBackend(d: Decision, b: RWBackend): Buffer | null {
    if (d.command === Command.STMT_CLOSE || d.command === Command.STMT_RESET) {
      const internal = b.statements.ids.get(d.statement!.id);
      if (internal === undefined) return null;
      if (d.command === Command.STMT_CLOSE) b.statements.forget(d.statement!.id);
      return withStatementId(d.packet, internal);
    }
    return d.packet;
  }

  /** The replier answered a COM_STMT_PREPARE: the client gets Weir's id instead of the server's. */
  private preparedOn(b: RWBackend, d: Decision, reply: Reply, bytes: Buffer | null): void {
    const st = d.statement!;
    let out = bytes ?? Buffer.alloc(0);
    if (reply.error === null && reply.statementId !== null) {
      b.statements.ids.set(st.id, reply.statementId);
      st.parameters = reply.parameters;
      this.statements.set(st.id, st);
      this.lastPrepared = st.id;
      out = withStatementId(out, st.id);
      reply.statementId = st.id;
      this.reused.remember(st.sql, st.id, out);
    } else if (d.history) {
      d.history = null;
    }
    this.toClient(out);
  }

  private write(b: RWBackend, packet: Buffer, e: Expectation): void {
    if (!b.backend.write(packet, e)) {
      this.s.pauseClient();
      b.backend.whenDrained(() => this.s.resumeClient());
    }
  }

  private begin(d: Decision, to: RWBackend): void {
    this.busy = true;
    this.current = { decision: d, to, sentToClient: 0, held: null };
  }

  /** The client's reply is complete. */
  private finished(d: Decision, from: RWBackend, reply: Reply): void {
    const c = this.current;
    if (c?.held) {
      const held = c.held;
      c.held = null;
      if (this.retryAfterError(d, from, reply)) return;
      // An ordinary error after all: the client gets it now.
      c.sentToClient += held.length;
      this.replay.received(held);
      this.s.toClient(held);
    }
    this.causal.observe(reply, from.backend, from.role === 'master', !d.read && d.target !== 'all');
    this.replay.completed(reply);
    if (d.history) {
      d.history.ok = reply.error === null;
      if (reply.error === null || d.command !== Command.STMT_PREPARE) this.history.add(d.history);
      d.history = null;
    }
    if (reply.error === null && d.command === Command.INIT_DB) this.database = d.packet.toString('utf8', 5);
    if (reply.error === null && d.command !== Command.STMT_PREPARE && reply.command !== Command.STMT_FETCH)
      this.trx.onServerStatus(reply.status);
    if (!this.trx.active) {
      this.trxTarget = null;
      this.optimistic = false;
    }
    if (!this.trx.active || this.trx.ending) this.replay.close();
    this.current = null;
    this.busy = false;
    this.s.replied(reply, from.backend.server.name);
    if (this.recheck) this.closeUnwanted();
    this.pump();
  }

  /** Weir answers the command itself (an error, an OK). */
  private answerLocally(packet: Buffer): void {
    this.toClient(packet);
    const error = packet[4] === 0xff;
    const now = performance.now();
    const reply = newReply(0);
    reply.error = error ? { code: packet.readUInt16LE(5), sqlState: 'HY000', message: '' } : null;
    reply.size = packet.length;
    reply.firstByteAt = reply.completedAt = now;
    this.s.replied(reply, '');
  }

  private count(d: Decision, to: RWBackend | RWBackend[]): void {
    this.stats.queries++;
    if (d.target === 'all') this.stats.route_all++;
    else if (d.named.length === 0 && d.target === 'master') this.stats.route_master++;
    else if (d.named.length === 0 && d.target === 'slave') this.stats.route_slave++;
    if (Array.isArray(to)) for (const b of to) this.countOn(d, b);
    else this.countOn(d, to);
  }

  private countOn(d: Decision, b: RWBackend): void {
    const s = b.stats;
    s.total++;
    if (d.target === 'all' || b.role === 'slave') s.read++;
    else s.write++;
  }

  // ---- backends ----

  private isMasterServer(s: ConfigObject): boolean {
    return usable(s) && (serverStateBits(s) & StateBit.MASTER) !== 0;
  }

  private bestMaster(): ConfigObject | null {
    const allowed = (s: ConfigObject) => !this.avoidMaster || !sameName(s.name, this.avoidMaster);
    const current = this.master && !this.master.backend.closed ? this.master.backend.server : null;
    if (current && this.isMasterServer(current) && allowed(current)) return current;
    const masters = this.s.servers().filter((s) => this.isMasterServer(s) && connectable(s) && allowed(s));
    masters.sort(
      (a, b) =>
        (a.params.rank === 'secondary' ? 1 : 0) - (b.params.rank === 'secondary' ? 1 : 0) ||
        a.runtime.currentConnections - b.runtime.currentConnections,
    );
    return masters[0] ?? null;
  }

  private maxLag(hinted: number): number {
    return hinted > 0 ? hinted : this.configuredMaxLag;
  }

  /** `rank` -1: any rank (the caller knows no server has the secondary rank). */
  private isReplicaCandidate(s: ConfigObject, maxLag: number, rank = this.readRank()): boolean {
    return this.isCandidate(s, serverStateBits(s), maxLag, rank);
  }

  /** isReplicaCandidate with the server's state bits already read. */
  private isCandidate(s: ConfigObject, bits: number, maxLag: number, rank: number): boolean {
    if ((bits & (StateBit.RUNNING | StateBit.MAINTENANCE | StateBit.DOWN | StateBit.SLAVE)) !== USABLE_REPLICA)
      return false;
    if (this.failed.size !== 0 && this.failed.has(s.name)) return false;
    if (rank >= 0 && (bits & StateBit.SECONDARY_RANK ? 1 : 0) !== rank) return false;
    if (maxLag > 0) {
      const lag = s.runtime.facts.replication_lag;
      const within = lag !== null && lag >= 0 && lag < maxLag;
      if (s.runtime.rlagState !== (within ? 'below' : 'above')) this.lagCrossed(s, within, maxLag);
      if (!within) return false;
    }
    return true;
  }

  /**
   * A replica's lag crossed `max_replication_lag` since a read last looked (MaxScale's warnings,
   * logged once per crossing, by the read that finds it; an unknown lag excludes it unlogged).
   */
  private lagCrossed(s: ConfigObject, within: boolean, maxLag: number): void {
    const was = s.runtime.rlagState;
    s.runtime.rlagState = within ? 'below' : 'above';
    const lag = s.runtime.facts.replication_lag;
    const fields = { service: this.s.service.name, server: s.name, lag, max_replication_lag: maxLag };
    const said = `Replication lag of '${s.name}' is ${lag} seconds, which is`;
    if (!within && lag !== null && lag >= 0)
      this.s.logger.warning(
        fields,
        `${said} above the configured limit ${maxLag}s. '${s.name}' is excluded from query routing.`,
      );
    else if (within && was === 'above')
      this.s.logger.warning(
        fields,
        `${said} below the configured limit ${maxLag}s. '${s.name}' is returned to query routing.`,
      );
  }

  /** The rank this session reads at (§5.5): its primary's, else the best of its usable replicas'. */
  private readRank(): number {
    // A session keeps its primary's rank as long as it keeps that primary (no per-read state checks).
    if (this.master && !this.master.backend.closed) return rankOf(this.master.backend.server);
    const primary = this.bestMaster();
    if (primary) return rankOf(primary);
    return sessionRank(
      null,
      this.s.servers().filter((s) => usable(s) && !this.failed.has(s.name) && serverHasFlag(s, 'slave')),
    );
  }

  /**
   * A replica for a read (§5.3): an open Backend, a server to connect, or null (read on the
   * primary). Runs per read, so it builds nothing: one pass keeps the best candidate.
   * Candidates come in classes: 0, an idle open replica or one Weir may open (or the primary
   * with master_accept_reads); 1, an open replica still busy with an earlier reply; 2, the
   * open primary (which chooseMaster reaches). Within the best class the
   * slave_selection_criteria score decides, then the connection written to longest ago, then
   * the order of the service's servers.
   */
  private pickReader(hintedLag: number): RWBackend | ConfigObject | null {
    // Ranks matter only when a server has the secondary one; the usual service has none, and
    // then the session's rank (its primary's state) need not be read per statement.
    const unranked = this.pickReaderAt(hintedLag, -1);
    return this.sawSecondaryRank ? this.pickReaderAt(hintedLag, this.readRank()) : unranked;
  }

  /** Set by pickReaderAt: a server of the service has the secondary rank. */
  private sawSecondaryRank = false;

  private pickReaderAt(hintedLag: number, rank: number): RWBackend | ConfigObject | null {
    const maxLag = this.maxLag(hintedLag);
    // Whether another replica may be opened: asked only when a candidate has no connection.
    let mayOpen: boolean | null = null;
    const criteria = this.selectionCriteria;
    let bestServer: ConfigObject | null = null;
    let bestBackend: RWBackend | null = null;
    let bestKlass = 2;
    let bestScore = 0;
    let bestLastWrite = 0;
    this.sawSecondaryRank = false;
    const slots = this.serverSlots();
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i]!;
      const server = slot.server;
      const bits = serverStateBits(server);
      if (bits & StateBit.SECONDARY_RANK) this.sawSecondaryRank = true;
      const open = slot.rw !== null && !slot.rw.backend.closed ? slot.rw : null;
      let klass: number;
      if (this.isCandidate(server, bits, maxLag, rank) && this.causal.acceptsReplica(server)) {
        if (open) klass = open.backend.pending ? 1 : 0;
        else if ((mayOpen ??= this.mayOpenReplica()) && connectable(server)) klass = 0;
        else continue;
      } else if (open && this.masterAcceptReads && this.isMasterServer(server)) {
        klass = 0;
      } else continue;
      if (klass > bestKlass) continue;
      const score = this.selectionScore(criteria, server);
      const lastWrite = open !== null ? open.backend.lastWriteAt : 0;
      // The first candidate always wins here: every class is better than the initial 2.
      if (klass < bestKlass || score < bestScore || (score === bestScore && lastWrite < bestLastWrite)) {
        bestKlass = klass;
        bestServer = server;
        bestBackend = open;
        bestScore = score;
        bestLastWrite = lastWrite;
      }
    }
    if (bestServer === null) return null; // the primary, reached through chooseMaster
    return bestBackend ?? bestServer;
  }

  /** Fewer replicas are open than max_slave_connections allows, and the session may open one (§4.5). */
  private mayOpenReplica(): boolean {
    let openReplicas = 0;
    for (const b of this.backends.values()) if (!b.backend.closed && b.role === 'slave') openReplicas++;
    return openReplicas < this.maxSlaves && this.history.canRecover;
  }

  /**
   * The service's servers, each with the session's connection to it: what replica choice
   * walks per read, so that it looks up no connection by name. Rebuilt when the service's
   * server list is another one (serversOf keeps one array per list) or a connection opened.
   */
  private serverSlots(): ServerSlot[] {
    const servers = this.s.servers();
    if (this.slotsOf === servers) return this.slots;
    this.slots = servers.map((server) => ({ server, rw: this.backends.get(server.name.toLowerCase()) ?? null }));
    this.slotsOf = servers;
    return this.slots;
  }

  private slots: ServerSlot[] = [];
  /** The server list `slots` was built from; null: rebuild (a connection opened). */
  private slotsOf: readonly ConfigObject[] | null = null;

  /** A candidate's slave_selection_criteria score (lower is better). */
  private selectionScore(criteria: string, server: ConfigObject): number {
    switch (criteria) {
      case 'adaptive_routing':
        return Math.max(0, server.runtime.averageReplyMs) * (1 + server.runtime.activeOperations);
      case 'least_behind_master':
        return server.runtime.facts.replication_lag ?? 0;
      case 'least_router_connections':
      case 'least_global_connections':
        return server.runtime.currentConnections;
      default:
        return server.runtime.activeOperations;
    }
  }

  private pickNewReplica(hintedLag: number): ConfigObject | null {
    const r = this.pickReader(hintedLag);
    return r instanceof RWBackend ? r.backend.server : r;
  }

  private backendByName(name: string): RWBackend | null {
    const b = this.backends.get(name.toLowerCase());
    return b && !b.backend.closed ? b : null;
  }

  /** Opens a backend and brings it to the session's state (history replay, §4.4). */
  private async connect(server: ConfigObject, role: 'master' | 'slave'): Promise<RWBackend> {
    const backend = await Backend.open(
      server,
      this.s.credentials(),
      'routed',
      this,
      role === 'master' ? 'master' : 'slave',
    );
    if (this.closed) {
      backend.close();
      throw new Error('the session closed');
    }
    const rb = new RWBackend(backend, role, serverStats(this.stats, server.name));
    const key = server.name.toLowerCase();
    const old = this.backends.get(key);
    if (old && !old.backend.closed) old.backend.close();
    this.backends.set(key, rb);
    this.slotsOf = null;
    if (role === 'master') {
      this.master = rb;
      this.masterLost = false;
    }
    this.s.core.touch(server);
    this.publishBackends();
    this.causal.onConnect(backend);
    // The history, pipelined; the backend is used once it has answered all of it.
    const entries = [...this.history.entries];
    if (entries.length === 0) return rb;
    await new Promise<void>((resolve, reject) => {
      let left = entries.length;
      const lost = () =>
        reject(new Error(`server '${server.name}' was lost while its session state was being restored`));
      for (const entry of entries) {
        const written = backend.write(entry.packet, {
          command: entry.command,
          sink: 'discard',
          done: (reply) => {
            if (entry.statementId !== null && reply.error === null && reply.statementId !== null)
              rb.statements.ids.set(entry.statementId, reply.statementId);
            if (entry.ok !== null && entry.ok !== (reply.error === null)) {
              this.log(
                `replaying the session's history on '${server.name}' gave a different answer to ${commandName(entry.command)}; closing that connection`,
              );
              this.failed.add(server.name);
              this.drop(rb);
              return reject(new Error(`server '${server.name}' answered the session's history differently`));
            }
            if (--left === 0) resolve();
          },
        });
        void written;
      }
      this.replayWaiters.set(backend, lost);
    }).finally(() => this.replayWaiters.delete(backend));
    return rb;
  }

  /** Closes a backend this session stops using; one that owed the client a reply is handled as lost. */
  private discard(b: RWBackend): void {
    if (this.current?.to === b) this.handleLost(b);
    else this.drop(b);
  }

  private drop(b: RWBackend): void {
    b.backend.close();
    // A PREPARE waiting for this backend's answer waits no more.
    for (const wait of [...this.prepareWaits]) {
      wait.awaiting.delete(b);
      if (wait.awaiting.size === 0 && wait.done) {
        this.prepareWaits.delete(wait);
        wait.done();
      }
    }
    if (this.master === b) this.master = null;
    if (this.trxTarget === b) this.trxTarget = null;
    if (this.lastUsed === b) this.lastUsed = null;
    this.s.core.touch(b.backend.server);
    this.publishBackends();
  }

  private publishBackends(): void {
    this.s.backendsChanged([...this.backends.values()].filter((b) => !b.backend.closed).map((b) => b.backend.view));
  }

  // ---- failures (§6) ----

  lost(backend: Backend, why: string): void {
    if (this.closed) return;
    this.replayWaiters.get(backend)?.();
    const b = [...this.backends.values()].find((x) => x.backend === backend);
    if (!b) return;
    this.log(`connection to server '${backend.server.name}' lost: ${why}`);
    this.handleLost(b);
  }

  private handleLost(b: RWBackend): void {
    if (this.replaying) {
      // The replay in progress learns it through its waiter and starts over.
      this.replayWaiters.get(b.backend)?.();
      this.drop(b);
      return;
    }
    const wasMaster = this.master === b;
    const wasTrxTarget = this.trxTarget === b;
    const owed = this.current && this.current.to === b ? this.current : null;
    this.drop(b);
    if (wasMaster) {
      this.masterLost = true;
      if (this.failureMode === 'fail_instantly')
        return this.s.fail(2013, 'HY000', `Lost connection to the primary '${b.backend.server.name}'`);
      if (this.temporaryTables.size && this.p.strict_tmp_tables !== false) {
        return this.s.fail(
          2013,
          'HY000',
          `Lost connection to the primary '${b.backend.server.name}' while the session has temporary tables`,
        );
      }
      if (this.unsafeToReconnect)
        return this.s.fail(
          2013,
          'HY000',
          `Lost connection to the primary '${b.backend.server.name}': unsafe to reconnect (${this.unsafeToReconnect})`,
        );
    }
    if (wasMaster && wasTrxTarget && this.replay.open && this.replay.settings.enabled) return this.startReplay(b, owed);
    if (wasTrxTarget && !wasMaster && this.trx.active) {
      // An optimistic transaction was recorded on its replica: the primary takes it over.
      if (this.optimistic && this.replay.settings.enabled) {
        this.optimistic = false;
        return this.startReplay(
          b,
          owed,
          `Lost connection to '${b.backend.server.name}' inside an optimistic transaction`,
        );
      }
      // A read-only transaction: its statements cannot go on elsewhere as if nothing happened
      // (the server rolled it back). MaxScale closes the session unless it can replay; Weir
      // records read-only transactions for no replay.
      return this.s.fail(
        2013,
        'HY000',
        `Lost connection to server '${b.backend.server.name}' in the middle of a read-only transaction`,
      );
    }
    if (this.trx.active && this.trxTarget === null && owed === null && this.trx.inReadWriteTransaction && wasMaster) {
      return this.s.fail(
        2013,
        'HY000',
        `Lost connection to the primary '${b.backend.server.name}' in the middle of a transaction`,
      );
    }
    if (!owed) return;
    // The lost backend owed the client a reply: retry a read that sent nothing yet elsewhere (§6.5).
    const d = owed.decision;
    // (A prepared statement's read too: the other backends know the statement.)
    if (d.read && !this.trx.active && owed.sentToClient === 0 && this.p.retry_failed_reads !== false && d.retries > 0) {
      d.retries--;
      this.current = null;
      this.busy = false;
      this.failed.add(b.backend.server.name);
      this.log(`retrying a read of server '${b.backend.server.name}' on another server`);
      this.dispatch(d);
      this.pump();
      return;
    }
    this.s.fail(
      2013,
      'HY000',
      `Lost connection to backend server '${b.backend.server.name}': the connection broke while it owed the client a reply`,
    );
  }

  serverChanged(server: ConfigObject, event: ServerEvent): void {
    const b = this.backends.get(server.name.toLowerCase());
    if (!b || b.backend.closed) return;
    if (event === 'down') {
      this.log(`server '${server.name}' is down`);
      this.handleLost(b);
      return;
    }
    // lost_master: the next write finds the new primary (chooseMaster); reads carry on.
    // Anything else may make a connection unwanted: looked at now if idle, else at the next
    // safe point. Servers are touched often (every connect, every monitor round that sees a
    // new GTID), so only this connection is judged here; the primary's changes (its rank is
    // the session's) get the full walk.
    if (b === this.master || whyUnwanted(server, b.role, this.readRank(), this.lagLimit) !== null) this.recheck = true;
    if (this.recheck) this.closeUnwanted();
  }

  // ---- transaction replay, delayed retry, draining (§5.5, §6.6, §8) ----

  /** Whether an error reply to `c` could mean "retry elsewhere" (so it is held back until complete). */
  private mayRetryError(c: Current): boolean {
    if (!c.to || c.to !== this.master) return false;
    if (this.replay.settings.enabled && this.replay.open && c.to === this.trxTarget) return true;
    return this.delayedRetry && !this.trx.active && !c.decision.read;
  }

  /**
   * A held error reply is complete: a demoted primary (1290), or a deadlock with
   * transaction_replay_retry_on_deadlock, moves the statement or its transaction to a
   * (new) primary. False: the client gets the error.
   */
  private retryAfterError(d: Decision, from: RWBackend, reply: Reply): boolean {
    const e = reply.error;
    if (!e) return false;
    if (this.replay.settings.enabled && this.replay.open && from === this.trxTarget) {
      if (!ignorableError(e, this.replay.settings)) return false;
      this.log(
        `server '${from.backend.server.name}' answered ${e.code} (${e.message}) inside a transaction: replaying it`,
      );
      if (e.code === 1290) {
        this.avoid(from.backend.server);
        if (d.commit) this.replay.commitRefused();
      }
      this.startReplay(from, this.current);
      return true;
    }
    if (e.code !== 1290 || this.trx.active || !this.delayedRetry) return false;
    // Outside a transaction the write was refused, not run: it waits for the new primary.
    this.log(`primary '${from.backend.server.name}' is read-only now: the write waits for a new primary`);
    this.avoid(from.backend.server);
    this.current = null;
    this.dispatch(d);
    if (!this.busy) this.pump();
    return true;
  }

  /**
   * `server` refused a write as read-only: it is not used as the primary until the monitor
   * has seen it lose that role (or delayed_retry_timeout passes, if the switchover was
   * undone), so a later switchover back to it is not ignored.
   */
  private avoid(server: ConfigObject): void {
    this.avoidWait?.cancel();
    this.avoidMaster = server.name;
    const wait = waitForServer(this.s.core, () => (this.isMasterServer(server) ? null : true), this.delayedRetryMs);
    this.avoidWait = wait;
    wait.result
      .then(() => {
        if (this.avoidWait !== wait) return;
        this.avoidWait = null;
        this.avoidMaster = null;
      })
      .catch((err: unknown) => this.log(`internal error: ${(err as Error).message}`));
  }

  /** The transaction's server is no longer the primary (a switchover): the transaction moves (§6.6). */
  private shouldMigrate(target: RWBackend): boolean {
    return (
      this.replay.settings.enabled &&
      this.replay.open &&
      target === this.master &&
      !this.isMasterServer(target.backend.server)
    );
  }

  /** No primary for `d`: it waits for one (delayed_retry), up to delayed_retry_timeout. */
  private delayUntilPrimary(d: Decision): 'wait' | null {
    const now = performance.now();
    if (d.retryUntil === 0) d.retryUntil = now + this.delayedRetryMs;
    if (now >= d.retryUntil) {
      this.noMaster(d, `No primary appeared within delayed_retry_timeout (${this.delayedRetryMs / 1000}s)`);
      return null;
    }
    this.busy = true;
    this.log(`no primary for a ${d.read ? 'read' : 'write'}: waiting for one (delayed_retry)`);
    const wait = waitForServer(
      this.s.core,
      () => {
        const best = this.bestMaster();
        return best && !this.failed.has(best.name) ? best : null;
      },
      d.retryUntil - now,
    );
    this.waiting = wait;
    wait.result
      .then(() => {
        this.waiting = null;
        this.busy = false;
        if (this.closed) return;
        // Routed again: a primary (or the deadline, which ends in the usual error).
        this.dispatch(d);
        if (!this.busy) this.pump();
      })
      .catch((err: unknown) => this.s.fail(1105, 'HY000', `Internal error: ${(err as Error).message}`));
    return 'wait';
  }

  /**
   * Starts replaying the open transaction (§8.2) because `old`, its server, was lost or
   * refused it; `interrupted` is the statement in flight then (run again afterwards).
   */
  private startReplay(
    old: RWBackend,
    interrupted: Current | null,
    what = `Lost connection to the primary '${old.backend.server.name}' inside a transaction`,
  ): void {
    const why = this.replay.mayReplay(performance.now());
    if (why) {
      this.log(`transaction replay not possible: ${why}`);
      return this.s.fail(2013, 'HY000', `${what}, which cannot be replayed: ${why}`);
    }
    const sent = interrupted ? { bytes: interrupted.sentToClient, digest: this.replay.receivedDigest() } : null;
    this.replay.dropCurrent();
    this.busy = true;
    this.replaying = true;
    this.current = null;
    // Closing the old connection rolls its transaction back and releases its locks.
    if (!old.backend.closed) this.drop(old);
    if (this.master === old) this.master = null;
    this.trxTarget = null;
    const n = this.replay.attempts;
    this.log(
      `starting transaction replay ${n}: ${this.replay.entries.length} statement(s)${interrupted ? ' and the interrupted one' : ''}`,
    );
    this.runReplay(interrupted?.decision ?? null, sent).catch((err: unknown) => {
      if (this.closed) return;
      this.replaying = false;
      this.log(`transaction replay ${n} failed: ${(err as Error).message}`);
      if (err instanceof ReplayMismatch && !this.replay.settings.retryOnMismatch) {
        return this.s.fail(1927, 'HY000', 'Transaction checksum mismatch encountered when replaying transaction.');
      }
      // The new primary was lost too, or refused: start over while the limits allow.
      const target = this.master;
      if (target) this.startReplay(target, interrupted);
      else this.startReplay(old, interrupted);
    });
  }

  private async runReplay(interrupted: Decision | null, sent: { bytes: number; digest: string } | null): Promise<void> {
    const started = performance.now();
    const wait = waitForServer(
      this.s.core,
      () => {
        const best = this.bestMaster();
        return best && !this.failed.has(best.name) ? best : null;
      },
      this.delayedRetryMs,
    );
    this.waiting = wait;
    const server = await wait.result;
    this.waiting = null;
    if (this.closed) return;
    if (!server) {
      this.replaying = false;
      return this.s.fail(
        2013,
        'HY000',
        `Transaction replay failed: no primary appeared within ${this.delayedRetryMs / 1000}s (delayed_retry_timeout)`,
      );
    }
    let target = this.backendByName(server.name);
    if (target) {
      target.role = 'master';
      target.backend.view.role = 'master';
      this.master = target;
      this.masterLost = false;
      this.publishBackends();
    } else {
      try {
        target = await this.connect(server, 'master');
      } catch (err) {
        // The monitor has not seen it fail yet: wait for its news (1 s at most, as MaxScale) before trying again.
        const news = serverStateChange(this.s.core, server, 1000);
        this.waiting = news;
        await news.result;
        this.waiting = null;
        throw err;
      }
    }
    this.stats.reconnections++;
    this.trxTarget = target;
    for (let i = 0; i < this.replay.entries.length; i++) {
      const entry = this.replay.entries[i]!;
      const { bytes } = await this.runOn(target, entry.ref);
      if (this.closed) return;
      if (this.replay.digestOf(bytes, entry, entry.ref.masterRead) !== entry.digest) {
        this.debugMismatch(i, bytes);
        throw new ReplayMismatch(`statement ${i + 1} of ${this.replay.entries.length} gave a different result`);
      }
    }
    let last: { reply: Reply; bytes: Buffer } | null = null;
    if (interrupted && sent && sent.bytes > 0) {
      // The client has part of this reply: the replayed one must begin with the same bytes.
      last = await this.runOn(target, interrupted);
      if (last.bytes.length < sent.bytes || prefixDigest(last.bytes, sent.bytes) !== sent.digest) {
        this.debugMismatch(-1, last.bytes, interrupted, sent.bytes);
        throw new ReplayMismatch('the interrupted statement gave a different result');
      }
    }
    this.replaying = false;
    this.replay.replayed();
    this.stats.replayed_transactions++;
    this.log(
      `transaction replay succeeded on '${server.name}' in ${Math.round(performance.now() - started)} ms (${this.replay.entries.length} statement(s))`,
    );
    this.busy = false;
    if (!interrupted) return this.pump();
    if (!last) {
      this.send(interrupted, target);
      if (!this.busy) this.pump();
      return;
    }
    // The rest of the interrupted reply, then on as if nothing happened.
    this.begin(interrupted, target);
    this.replay.record(interrupted.packet, interrupted.command, interrupted, {
      starts: false,
      masterRead: interrupted.masterRead,
      commit: interrupted.commit,
    });
    this.replay.received(last.bytes);
    this.current!.sentToClient = last.bytes.length;
    this.s.toClient(last.bytes.subarray(sent!.bytes));
    this.finished(interrupted, target, last.reply);
  }

  /**
   * Debug log of a mismatch: which statement (`index`, -1: the interrupted one, of which the
   * client had `had` bytes), what differed, and the transaction's statements.
   */
  private debugMismatch(index: number, replayed: Buffer, interrupted?: Decision, had = 0): void {
    const entries = this.replay.entries;
    const text = (packet: Buffer, n: number): string => JSON.stringify(packet.toString('utf8', 5, 5 + n));
    const original = index >= 0 ? entries[index]!.reply : null;
    const what =
      index < 0
        ? `the interrupted statement (${text(interrupted!.packet, 300)}): the client had ${had} bytes, the replay gave ${replayed.length}`
        : `statement ${index + 1} of ${entries.length} (${text(entries[index]!.packet, 300)}): ` +
          (original ? describeDifference(original, replayed) : 'its original reply was not kept (too large)');
    this.s.logger.debug(
      { session: this.s.id, service: this.s.service.name },
      `session ${this.s.id}: transaction replay mismatch at ${what}; ` +
        `the transaction began ${Math.round(performance.now() - this.replay.startedAt)} ms ago; ` +
        `statements: ${entries.map((e) => text(e.packet, 80)).join(' | ')}`,
    );
  }

  /** Runs a logged statement on `to` during a replay; its reply is kept from the client. */
  private runOn(to: RWBackend, d: Decision): Promise<{ reply: Reply; bytes: Buffer }> {
    return new Promise((resolve, reject) => {
      const packet = this.packetFor(d, to);
      if (!packet) return reject(new ReplayMismatch('a prepared statement of the transaction is unknown there'));
      this.replayWaiters.set(to.backend, () =>
        reject(new Error(`server '${to.backend.server.name}' was lost during the replay`)),
      );
      this.write(to, packet, {
        command: d.command,
        sink: 'buffer',
        done: (reply, bytes) => {
          this.replayWaiters.delete(to.backend);
          const e = reply.error;
          if (e && ignorableError(e, this.replay.settings)) {
            if (e.code === 1290) this.avoid(to.backend.server);
            this.drop(to);
            return reject(new Error(`server '${to.backend.server.name}' answered ${e.code} (${e.message})`));
          }
          resolve({ reply, bytes: bytes ?? Buffer.alloc(0) });
        },
      });
    });
  }

  /**
   * At a safe point (reply complete, nothing pending, no open transaction), after a server the
   * session holds changed: closes the connections it should no longer use (unwanted.ts). A
   * draining primary is left only when another primary can take over; one in maintenance is
   * closed (its open transaction, if any, has finished: this is a safe point).
   */
  private closeUnwanted(): void {
    if (this.closed || this.opening || this.busy || this.replaying) return;
    if (this.trx.active && !this.trx.ending) return;
    this.recheck = false;
    const rank = this.readRank();
    for (const b of [...this.backends.values()]) {
      if (b.backend.closed) continue;
      const why = whyUnwanted(b.backend.server, b.role, rank, this.lagLimit);
      if (why === null) continue;
      // A session command still on its way to this backend: the next safe point.
      if (b.backend.pending) {
        this.recheck = true;
        continue;
      }
      if (b === this.master && why === DRAINING) {
        const other = this.s.servers().find((s) => s !== b.backend.server && this.isMasterServer(s) && connectable(s));
        if (!other || !this.canReplaceMaster()) continue;
      }
      this.log(`closing the connection to '${b.backend.server.name}': ${why}`);
      this.drop(b);
    }
  }

  diagnostics(): SessionRouterState {
    const open = this.trx.active && !(this.trx.ending && !this.trx.starting);
    const m = this.master && !this.master.backend.closed ? this.master : null;
    return {
      transaction: !open ? 'none' : this.trx.readOnly ? 'read_only' : 'read_write',
      transaction_statements: this.replay.open ? this.replay.entries.length : 0,
      replayable: this.replay.settings.enabled && open ? this.replay.notReplayable === null : null,
      replaying: this.replaying,
      primary: m ? m.backend.server.name : null,
      sescmd_history_length: this.history.entries.length,
      last_gtid: this.causal.lastGtid,
    };
  }

  // ---- change user, kill ----

  changeUser(request: ChangeUser, passwordSha1: Buffer, sequence: number): void {
    this.resetState();
    const open = [...this.backends.values()].filter((x) => !x.backend.closed);
    const replier = this.master && !this.master.backend.closed ? this.master : open[0];
    if (!replier) {
      this.toClient(okPacket(sequence + 1));
      return;
    }
    const caps = this.s.credentials().capabilities;
    const d = this.decision(Buffer.alloc(0), Command.CHANGE_USER, 'all');
    this.busy = true;
    this.current = { decision: d, to: replier, sentToClient: 0, held: null };
    // The client is answered once every backend has changed user: a server may be in the middle
    // of an authentication switch, and the next command written to it would be read as its
    // answer. (drop() releases the wait for a backend that is lost meanwhile.)
    const wait = { awaiting: new Set(open), done: null as (() => void) | null };
    this.prepareWaits.add(wait);
    const settled = (b: RWBackend) => {
      wait.awaiting.delete(b);
      if (wait.awaiting.size === 0 && wait.done && this.prepareWaits.delete(wait)) wait.done();
    };
    for (const b of open) {
      b.backend.passwordSha1 = passwordSha1;
      const packet = writeChangeUser(sequence, { ...request, token: tokenFor(passwordSha1, b.backend.scramble) }, caps);
      this.write(
        b,
        packet,
        b === replier
          ? {
              command: Command.CHANGE_USER,
              sink: 'discard',
              done: (reply) => {
                // After an authentication switch the server's answer has a later sequence than
                // the client expects: the client gets an OK or ERR of its own exchange.
                const e = reply.error;
                wait.done = () => {
                  this.toClient(
                    e
                      ? errPacket(sequence + 1, e.code, e.sqlState, e.message)
                      : okPacket(sequence + 1, reply.status || 0x0002),
                  );
                  this.finished(d, b, reply);
                };
                settled(b);
              },
            }
          : {
              command: Command.CHANGE_USER,
              sink: 'discard',
              done: (reply) => {
                if (reply.error !== null) this.drop(b);
                settled(b);
              },
            },
      );
    }
  }

  /** COM_CHANGE_USER, COM_RESET_CONNECTION: the servers forget the session's state. */
  private resetState(): void {
    this.history.clear();
    this.statements.clear();
    this.textStatements.clear();
    this.temporaryTables.clear();
    this.reused.clear();
    for (const b of this.backends.values()) b.statements.clear();
    this.lockedToMaster = false;
    this.serializable = false;
    this.nextTrxPending = false;
    this.unsafeToReconnect = null;
  }

  /** KILL <Weir session id> (§2.8, kill.ts); later commands wait for its answer. */
  private runKill(k: KillRequest): void {
    this.busy = true;
    runKill(this.s, k)
      .then((answer) => {
        this.busy = false;
        if (this.closed || answer === null) return;
        this.answerLocally(answer);
        this.pump();
      })
      .catch((err: unknown) => this.s.fail(1105, 'HY000', `KILL failed: ${(err as Error).message}`));
  }

  close(): void {
    this.closed = true;
    unregisterKillable(this.s.id);
    this.keepalive.stop();
    this.waiting?.cancel();
    this.avoidWait?.cancel();
    for (const b of this.backends.values()) {
      if (!b.backend.closed) b.backend.close();
    }
  }

  // ---- BackendOwner ----

  toClient(bytes: Buffer): boolean {
    const c = this.current;
    if (c) {
      // An error that may only mean "this primary was demoted" waits until the reply is complete.
      if (c.held || (c.sentToClient === 0 && bytes.length > 4 && bytes[4] === 0xff && this.mayRetryError(c))) {
        c.held = c.held ? Buffer.concat([c.held, bytes]) : Buffer.from(bytes);
        return true;
      }
      c.sentToClient += bytes.length;
      this.replay.received(bytes);
    }
    return this.s.toClient(bytes);
  }

  whenClientDrains(resume: () => void): void {
    this.s.whenClientDrains(resume);
  }

  private log(message: string): void {
    this.s.logger.info({ session: this.s.id, service: this.s.service.name }, `session ${this.s.id}: ${message}`);
  }
}

function commandName(command: number): string {
  const name = Object.entries(Command).find(([, v]) => v === command)?.[0];
  return name ? `COM_${name}` : `command 0x${command.toString(16)}`;
}

/** A replayed transaction did not give the results the client saw. */
class ReplayMismatch extends Error {}
