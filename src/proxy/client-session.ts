/**
 * One client session: Weir's handshake, authenticating the client against the backends'
 * accounts (keeping its credentials, so backends can be opened at any time), then the
 * query path: client packets through the filter chain to the service's router session,
 * which decides which backend(s) get them and what of their replies reaches the client.
 *
 * When the router allows it (readconnroute) and nothing needs to look at packets (no
 * filters), client bytes go to the router untouched: the pass-through fast path.
 */
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { Core } from '../core/core.ts';
import { stringList, type ConfigObject } from '../core/objects.ts';
import type { BackendConnection, Session, SessionRouterState, TrafficTotals } from '../core/sessions.ts';
import type { WeirLogger } from '../log/logger.ts';
import { findAccount, normaliseAddress } from './accounts.ts';
import { BackendError, type Credentials } from './backend.ts';
import { keep } from './keep.ts';
import {
  isSslRequest,
  readHandshakeResponse,
  writeAuthSwitchRequest,
  writeInitialHandshake,
  type HandshakeResponse,
} from './protocol/handshake.ts';
import { doubleSha1FromHash, newScramble, verifyToken } from './protocol/native-password.ts';
import { readChangeUser, type ChangeUser } from './protocol/change-user.ts';
import {
  Capability,
  errPacket,
  okPacket,
  PacketFramer,
  ProtocolError,
  SERVER_CAPABILITIES,
} from './protocol/packets.ts';
import { Command, expectsReply, MAX_PAYLOAD } from './protocol/commands.ts';
import type { Reply } from './protocol/reply-tracker.ts';
import { FilterChain } from './filters/chain.ts';
import type { Filters } from './filters/registry.ts';
import { COMMAND_NAMES } from '../core/queries.ts';
import { connectFailure, type AuthFailure, type ReplyTimer } from '../core/traffic.ts';
import type { ServiceAccounts } from './service-accounts.ts';
import { routerFor } from './routing/registry.ts';
import { useStaticReads, wrote } from './static-reads.ts';
import { runKill } from './routing/kill.ts';
import {
  firstWord,
  killRequest,
  mayStartKill,
  MAYBE_KILL,
  NOT_KILL,
  type KillRequest,
} from './routing/kill-request.ts';
import type { Hint, RouterSession, ServerEvent, SessionHandle } from './routing/router.ts';
// The global `performance` is a lazy getter: read per call on the hot path. The import is a plain binding.
import { performance } from 'node:perf_hooks';

const HANDSHAKE_TIMEOUT_MS = 10_000;
const NATIVE = 'mysql_native_password';
const EMPTY = Buffer.alloc(0);

export interface SessionDeps {
  core: Core;
  logger: WeirLogger;
  accounts: ServiceAccounts;
  /** The listener's TLS context when it requires TLS (`ssl=true`). */
  tls: SecureContext | null;
  filters: Filters;
}

export class ClientSession implements Session {
  readonly id: number;
  readonly service: string;
  user = '';
  readonly address: string;
  readonly port: number;
  readonly connected = new Date();
  state = 'Session created';
  lastActivity = Date.now();
  defaultDb: string | null = null;
  statementsRouted = 0;
  bytesIn = 0;
  bytesOut = 0;
  lastModified = new Date();
  backends: BackendConnection[] = [];

  private readonly scramble = newScramble();
  private readonly framer = new PacketFramer(1 << 20);
  private phase: 'handshake' | 'auth-switch' | 'connecting' | 'routing' | 'closed' = 'handshake';
  private response: HandshakeResponse | null = null;
  private credentials: Credentials | null = null;
  private timer: NodeJS.Timeout | null = null;
  private router: RouterSession | null = null;
  /** Pass-through: client bytes go to the router as they came (no filters, a router that allows it). */
  private passthrough = false;
  /** Framed path: client packets. */
  private readonly packets = new PacketFramer();
  private inContinuation = false;
  /** Pass-through: bytes left of the current client packet, and a partial header. */
  private packetLeft = 0;
  /**
   * Pass-through: the start of a packet whose header (and command byte) has not all arrived.
   * Held back and put in front of the next read, so that a COM_CHANGE_USER whose header is
   * split across reads is still recognised and checked, never forwarded as it is.
   */
  private carry = EMPTY;
  private commandPending = false;
  /**
   * A command the session handles itself, being collected and then run: a COM_CHANGE_USER
   * (checked, then re-tokened for the backends) or, on a pass-through router, a KILL
   * (kill-request.ts). Client bytes after it wait in `held` until it is answered.
   */
  private own: { parts: Buffer[]; left: number } | null = null;
  private held: Buffer[] = [];
  /** The service's filters for this session; null (no filters) keeps the byte-forwarding path. */
  private chain: FilterChain | null = null;
  /** Metrics: when the statement now waiting for its reply was sent (performance.now(); 0: none waits). */
  private replyPendingSince = 0;
  private replyTimer: ReplyTimer | null = null;
  /** readwritesplit: traffic by the server that answered (Session.byServer). */
  byServer?: Map<string, TrafficTotals>;
  /** Client bytes routed since the last reply, counted to the server that answers next. */
  private routedBytes = 0;
  /**
   * A statement-routing router (readwritesplit): its replies are timed once complete, from the
   * tracker's first-byte time, and labelled with the server that answered.
   */
  private routesStatements = false;
  /** readwritesplit: by server name, its traffic totals (in byServer) and reply timer, found with one lookup. */
  private readonly routedTo = new Map<string, { server: string; traffic: TrafficTotals; timer: ReplyTimer }>();
  private lastRoutedTo: { server: string; traffic: TrafficTotals; timer: ReplyTimer } | null = null;
  /** Statements sent while someone watches, by their command number, waiting for their replies. */
  private observed: Array<{ index: number; command: number; sql: string; arrivedAt: number; routedAt: number }> = [];
  /** Commands sent that have a reply, and replies the client got: to pair watched statements with replies. */
  private commandsSent = 0;
  private repliesSeen = 0;
  private clientPaused = 0;
  /** Client reads arrive as views of a reused buffer (static-reads.ts). */
  private staticReads = false;

  private client: Socket;

  constructor(
    private readonly deps: SessionDeps,
    private readonly serviceObj: ConfigObject,
    socket: Socket,
  ) {
    this.id = deps.core.sessions.allocateId();
    this.service = serviceObj.name;
    this.address = normaliseAddress(socket.remoteAddress ?? '');
    this.port = socket.remotePort ?? 0;
    socket.setNoDelay(true);
    this.client = socket;
    this.attach(socket);
  }

  private attach(socket: Socket): void {
    socket.on(
      'data',
      this.guard((d: Buffer) => this.onClientData(d)),
    );
    socket.on(
      'error',
      this.guard(() => this.close('client connection error')),
    );
    socket.on(
      'close',
      this.guard(() => this.close('client closed the connection')),
    );
  }

  /**
   * Every event handler of the session runs through this: an exception that escapes one
   * (a packet Weir failed to expect, a bug) costs this session, never the process.
   */
  private guard<A extends unknown[]>(handler: (...args: A) => void): (...args: A) => void {
    return (...args) => {
      try {
        handler(...args);
      } catch (err) {
        this.internalError(err);
      }
    };
  }

  /** Runs one of the session's asynchronous steps, whose failure must cost this session only. */
  private settle(step: Promise<void>): void {
    step.catch((err: unknown) => this.internalError(err));
  }

  /**
   * Something the session did not expect. A packet a parser refused is the client's mistake
   * (MariaDB's ER_MALFORMED_PACKET); anything else is Weir's, logged with its stack. Either
   * way the client gets an error packet and the session closes; other sessions carry on.
   */
  private internalError(err: unknown): void {
    if (err instanceof ProtocolError)
      return this.fail(1835, 'HY000', `Malformed communication packet: ${err.message}`, this.errorSequence());
    const e = err instanceof Error ? err : new Error(String(err));
    this.deps.logger.error(
      { session: this.id, service: this.service, user: this.user, err: e.stack ?? e.message },
      `session ${this.id} failed: ${e.message}`,
    );
    if (this.phase === 'closed') return;
    try {
      this.fail(
        1105,
        'HY000',
        `Weir could not handle this session's traffic (${e.message}); the session is closed`,
        this.errorSequence(),
      );
    } catch {
      this.close(`internal error: ${e.message}`);
    }
  }

  /** The sequence id of an error packet sent now: the answer to a pending command, or unsolicited. */
  private errorSequence(): number {
    if (this.phase === 'routing') return this.commandPending ? 1 : 0;
    return 2;
  }

  /**
   * After an SSLRequest the rest of the conversation runs over TLS. A client may send its
   * TLS ClientHello in the same read as the SSLRequest; those bytes must reach the TLS
   * layer first, so the socket is then wrapped in a stream that replays them.
   */
  private upgradeToTls(context: SecureContext, early: Buffer): void {
    const raw = this.client;
    raw.removeAllListeners('data');
    raw.removeAllListeners('error');
    raw.removeAllListeners('close');
    // The TLS socket reports the connection's errors from now on; one the raw socket still
    // emits must not go unheard (an 'error' event without a listener ends the process).
    raw.on('error', () => undefined);
    let transport: Socket | Duplex = raw;
    if (early.length) {
      const replay = new Duplex({
        read: () => raw.resume(),
        write: (chunk, _enc, done) => raw.write(chunk, done),
        final: (done) => raw.end(done),
      });
      replay.push(early);
      raw.on('data', (d) => {
        if (!replay.push(d)) raw.pause();
      });
      raw.on('end', () => replay.push(null));
      raw.on('error', (err) => replay.destroy(err));
      replay.on('error', () => undefined); // the TLS socket on top reports it
      raw.on('close', () => replay.destroy());
      transport = replay;
    }
    const secure = new TLSSocket(transport as Socket, { isServer: true, secureContext: context });
    this.client = secure;
    this.attach(secure);
    if (transport !== raw) raw.on('close', () => this.close('client closed the connection'));
    this.tls = true;
  }

  /** Whether the client talks TLS to Weir. */
  tls = false;

  /** Registers the session and greets the client (or refuses it when the service is full). */
  start(): void {
    const svc = this.serviceObj;
    const max = Number(svc.params.max_connections);
    if (max > 0 && svc.runtime.currentConnections >= max) {
      this.client.end(errPacket(0, 1040, '08004', 'Too many connections'));
      return;
    }
    this.deps.core.sessions.add(this);
    svc.runtime.currentConnections++;
    svc.runtime.totalConnections++;
    this.deps.core.touch(svc);
    this.timer = setTimeout(
      () => this.fail(1043, '08S01', 'Bad handshake: the client did not log in in time'),
      HANDSHAKE_TIMEOUT_MS,
    );
    this.client.write(
      writeInitialHandshake({
        connectionId: this.id,
        serverVersion: this.versionString(),
        scramble: this.scramble,
        capabilities: SERVER_CAPABILITIES | (this.deps.tls ? Capability.SSL : 0),
        charset: 45,
        status: 0x0002,
        authPlugin: NATIVE,
      }),
    );
  }

  /** Back-pressure on the client side now, for the metrics (a method: no closure per session). */
  flow(): { paused: boolean; buffered: number } {
    return { paused: this.clientPaused > 0, buffered: this.client.writableLength };
  }

  close(reason: string): void {
    if (this.phase === 'closed') return;
    this.deps.core.traffic.sessionClosed(this.service, reason, this.state === 'Stopping session');
    this.phase = 'closed';
    this.state = 'Stopping session';
    if (this.timer) clearTimeout(this.timer);
    this.client.destroy();
    this.router?.close();
    this.chain?.close();
    for (const b of this.backends) {
      const server = this.deps.core.find('server', b.server);
      if (server) this.deps.core.touch(server);
    }
    if (this.deps.core.sessions.get(this.id) === this) {
      this.deps.core.sessions.remove(this.id);
      this.serviceObj.runtime.currentConnections--;
      this.deps.core.touch(this.serviceObj);
    }
    this.deps.logger.info(
      { session: this.id, service: this.service, user: this.user, reason },
      `session ${this.id} closed: ${reason}`,
    );
  }

  /** connection_timeout ran out: tell the client, as MariaDB does, and close. */
  timeOut(): void {
    if (this.phase === 'closed') return;
    this.client.end(
      errPacket(
        this.commandPending ? 1 : 0,
        4031,
        'HY000',
        'The client was disconnected by the server because of inactivity.',
      ),
    );
    this.close('idle for longer than connection_timeout');
  }

  // ---- connection phase ----

  private onClientData(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    this.lastActivity = Date.now();
    if (this.phase === 'routing')
      return this.passthrough ? this.forwardRaw(chunk) : this.framed(this.staticReads ? Buffer.from(chunk) : chunk);
    if (this.phase === 'connecting' || this.phase === 'closed') {
      // A client must wait for the login's answer; anything else is kept for after it.
      if (this.phase === 'connecting') this.framer.push(chunk);
      return;
    }
    this.framer.push(chunk);
    try {
      const p = this.framer.next();
      if (!p) return;
      if (this.phase === 'handshake') {
        if (isSslRequest(p.payload)) {
          if (!this.deps.tls) return this.fail(1043, '08S01', 'Bad handshake: this listener does not offer TLS');
          return this.upgradeToTls(this.deps.tls, this.framer.drain());
        }
        this.response = readHandshakeResponse(p.payload);
        this.user = this.response.user;
        if (this.deps.tls && !this.tls) {
          return this.fail(
            1045,
            '28000',
            `Access denied for user '${this.user}'@'${this.address}': this listener requires TLS (ssl=required)`,
            p.sequence + 1,
          );
        }
        if (this.response.authPlugin && this.response.authPlugin !== NATIVE) {
          // Ask a client that prefers another plugin (caching_sha2_password, ed25519...) for a native token.
          this.phase = 'auth-switch';
          this.client.write(writeAuthSwitchRequest(p.sequence + 1, NATIVE, this.scramble));
          return;
        }
        this.settle(this.authenticate(this.response.authResponse, p.sequence + 1));
      } else if (this.phase === 'auth-switch') {
        this.settle(this.authenticate(p.payload, p.sequence + 1));
      }
    } catch (err) {
      this.fail(1043, '08S01', `Bad handshake: ${err instanceof ProtocolError ? err.message : 'malformed packet'}`);
    }
  }

  private async authenticate(token: Buffer, sequence: number): Promise<void> {
    this.phase = 'connecting';
    this.state = 'Authenticating';
    const r = this.response!;
    const denied = (reason: AuthFailure) => this.refuse(reason, r.user, token.length > 0, sequence);
    if (r.user.toLowerCase() === 'root' && this.serviceObj.params.root_user !== true) return denied('root_refused');

    let passwordSha1: Buffer | null = null;
    let known = false;
    for (let attempt = 0; attempt < 2 && passwordSha1 === null; attempt++) {
      if (attempt === 1 && !(await this.deps.accounts.reloadIfAllowed())) break;
      const account = findAccount(await this.deps.accounts.get(), r.user, this.address);
      if (!account) continue;
      known = true;
      if (account.plugin !== NATIVE && account.plugin !== '') {
        this.deps.core.traffic.authFailed(this.service, 'plugin');
        return this.fail(
          1045,
          '28000',
          `Weir cannot log '${r.user}' in: the account uses the '${account.plugin}' authentication plugin, and Weir supports only mysql_native_password`,
          sequence,
        );
      }
      try {
        passwordSha1 = verifyToken(token, this.scramble, doubleSha1FromHash(account.authenticationString));
      } catch {
        passwordSha1 = null;
      }
    }
    // The client may have gone while the accounts loaded.
    if ((this.phase as string) === 'closed') return;
    if (passwordSha1 === null) return denied(known ? 'bad_password' : 'unknown_user');
    await this.openRouterSession(passwordSha1, sequence);
  }

  private async openRouterSession(passwordSha1: Buffer, sequence: number): Promise<void> {
    const r = this.response!;
    this.credentials = {
      user: r.user,
      passwordSha1: keep(passwordSha1),
      database: r.database,
      capabilities: r.capabilities,
      charset: r.charset,
      attributes: r.attributes,
    };
    const router = routerFor(String(this.serviceObj.params.router));
    if (!router)
      return this.fail(
        1105,
        'HY000',
        `Service '${this.service}' uses router '${this.serviceObj.params.router}', which Weir does not have`,
        sequence,
      );
    this.defaultDb = r.database;
    this.chain = this.buildChain();
    this.state = 'Connecting to backend';
    const session = router.newSession(this.handle());
    this.router = session;
    // Several servers per session: traffic is counted to the server that answered.
    if (!session.passthrough) this.byServer = new Map();
    try {
      await session.open();
    } catch (err) {
      if (err instanceof BackendError && err.server)
        this.deps.core.traffic.connectFailed(err.server, connectFailure(err));
      else if (err instanceof BackendError) this.deps.core.traffic.authFailed(this.service, 'no_server');
      if (err instanceof BackendError) return this.fail(err.code, err.sqlState, err.message, sequence);
      return this.fail(
        2003,
        'HY000',
        `Can't connect to the servers of service '${this.service}': ${(err as Error).message}`,
        sequence,
      );
    }
    if (this.phase === 'closed') return;
    this.startRouting(sequence);
  }

  private startRouting(sequence: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.phase = 'routing';
    this.state = 'Session ready for routing';
    this.lastModified = new Date();
    this.passthrough = this.router!.passthrough && this.chain === null;
    this.routesStatements = !this.router!.passthrough;
    // What the client's login said is in the credentials now; its packet need not stay.
    this.response = null;
    if (!this.tls) this.readStatically();
    this.client.write(okPacket(sequence));
    const early = this.framer.drain();
    if (early.length) {
      if (this.passthrough) this.forwardRaw(early);
      else this.framed(early);
    }
  }

  /**
   * Plain TCP: client reads go into one reused buffer (static-reads.ts), as views that live
   * until the read is handled. The pass-through path copies only what it keeps; the framed
   * path (filters, readwritesplit), which keeps packets, frames a copy.
   */
  private readStatically(): void {
    const onData = this.client.listeners('data') as Array<(d: Buffer) => void>;
    this.client.removeAllListeners('data');
    // guard()'s work, without its rest-argument array per read.
    this.staticReads = useStaticReads(this.client, (d) => {
      try {
        this.onClientData(d);
      } catch (err) {
        this.internalError(err);
      }
    });
    if (!this.staticReads) for (const l of onData) this.client.on('data', l);
  }

  /** What the router session may ask of this session. */
  private handle(): SessionHandle {
    return new ClientSession.Handle(this, this.chain !== null);
  }

  /**
   * The handle's methods are shared on a prototype: built as an object literal of arrow
   * functions it took ~4 KiB per session (a dozen closures, each given its own `name`
   * property by tsx's keepNames, and the literal in dictionary mode); this is one small
   * object. Nested in the class so it may reach the session's private state.
   */
  private static readonly Handle = class implements SessionHandle {
    constructor(
      private readonly s: ClientSession,
      readonly followsReplies: boolean,
    ) {}
    get id(): number {
      return this.s.id;
    }
    get service(): ConfigObject {
      return this.s.serviceObj;
    }
    get core(): Core {
      return this.s.deps.core;
    }
    get logger(): WeirLogger {
      return this.s.deps.logger;
    }
    get user(): string {
      return this.s.user;
    }
    get address(): string {
      return this.s.address;
    }
    credentials(): Credentials {
      return this.s.credentials!;
    }
    servers(): readonly ConfigObject[] {
      return this.s.deps.core.serversOf(this.s.serviceObj);
    }
    toClient(bytes: Buffer): boolean {
      return this.s.toClient(bytes);
    }
    whenClientDrains(resume: () => void): void {
      this.s.client.once('drain', resume);
    }
    pauseClient(): void {
      this.s.pauseClient();
    }
    resumeClient(): void {
      this.s.resumeClient();
    }
    replied(reply: Reply, server: string): void {
      this.s.replied(reply, server);
    }
    backendsChanged(backends: BackendConnection[]): void {
      this.s.backends = backends;
      this.s.lastModified = new Date();
    }
    fail(code: number, sqlState: string, message: string): void {
      this.s.abort(code, sqlState, message);
    }
    close(reason: string): void {
      this.s.close(reason);
    }
  };

  /** Reply bytes for the client: the routers' and Weir's own answers. */
  private toClient(bytes: Buffer): boolean {
    this.bytesOut += bytes.length;
    this.commandPending = false;
    // A routed reply is timed once it is complete (replied()), from its first byte's time.
    if (this.replyPendingSince !== 0 && !this.routesStatements) this.timeReply();
    if (this.observed.length && this.passthrough) this.publishRawReply();
    if (this.phase === 'closed') return true;
    const ok = this.client.write(bytes);
    // A write the socket could not take at once pins the read buffer: the next read gets a fresh one.
    wrote(this.client);
    return ok;
  }

  private pauseClient(): void {
    if (this.clientPaused++ === 0) this.client.pause();
  }

  private resumeClient(): void {
    if (this.clientPaused > 0 && --this.clientPaused === 0) this.client.resume();
  }

  private buildChain(): FilterChain | null {
    const filters = this.deps.filters.chainFor(this.serviceObj, {
      id: this.id,
      service: this.service,
      user: this.user,
      address: this.address,
      connected: this.connected,
      defaultDb: () => this.defaultDb,
    });
    if (filters.length === 0) return null;
    return new FilterChain(filters, {
      forward: (packet, hints) => this.route(packet, hints),
      refuse: (message, sequence) => this.fail(1105, 'HY000', message, sequence),
      pauseClient: () => this.pauseClient(),
      resumeClient: () => this.resumeClient(),
      filterFailed: (err) =>
        this.deps.logger.error(
          { session: this.id, service: this.service, err: err.message },
          `a filter of service '${this.service}' failed: ${err.message}`,
        ),
      observe: (statement, reply, server) =>
        this.publishQuery(
          statement.command,
          statement.sql,
          statement.arrivedAt,
          statement.routedAt,
          reply.firstByteAt,
          reply.error !== null,
          server,
        ),
    });
  }

  private route(packet: Buffer, hints: Hint[] | null): void {
    if (this.phase !== 'routing') return;
    this.router!.routeQuery(packet, hints);
  }

  /** A reply the client received in full, from `server`. */
  private replied(reply: Reply, server: string): void {
    this.commandPending = false;
    if (this.routesStatements) {
      const since = this.replyPendingSince;
      this.replyPendingSince = 0;
      this.routedReply(
        server,
        since !== 0 ? ((reply.firstByteAt || performance.now()) - since) / 1000 : -1,
        reply.size,
      );
    }
    // COM_CHANGE_USER is the session's own business: no filter or watcher awaits its reply.
    if (reply.command === Command.CHANGE_USER) return;
    if (this.chain) return this.chain.reply(reply, server);
    const index = this.repliesSeen++;
    while (this.observed.length && this.observed[0]!.index < index) this.observed.shift();
    if (this.observed.length && this.observed[0]!.index === index) {
      const o = this.observed.shift()!;
      this.publishQuery(o.command, o.sql, o.arrivedAt, o.routedAt, reply.firstByteAt, reply.error !== null, server);
    }
  }

  /**
   * A statement (arrived at `time`, epoch ms) and its reply's first byte (performance.now()
   * times), for watchers. A pass-through session does not follow replies, so it knows no
   * outcome (`error` null).
   */
  private publishQuery(
    command: number,
    sql: string,
    time: number,
    routedAt: number,
    firstByteAt: number,
    error: boolean | null,
    server: string,
  ): void {
    if (!this.deps.core.queries.active) return;
    this.deps.core.queries.publish({
      time: new Date(time),
      session: this.id,
      service: this.service,
      user: this.user,
      server,
      command: COMMAND_NAMES[command]!,
      sql,
      durationMs: Math.max(0, firstByteAt - routedAt),
      error,
    });
  }

  /** Pass-through: the first bytes of a reply answer the oldest watched statement. */
  private publishRawReply(): void {
    const o = this.observed.shift()!;
    const now = performance.now();
    this.publishQuery(o.command, o.sql, o.arrivedAt, o.routedAt, now, null, this.backends[0]?.server ?? '');
  }

  // ---- framed path: whole packets, to the chain or the router ----

  private framed(chunk: Buffer): void {
    if (this.own) {
      this.held.push(chunk);
      return;
    }
    try {
      // The usual read: exactly one whole packet and nothing waiting, so no framing needed.
      if (
        this.packets.pending === 0 &&
        chunk.length >= 4 &&
        (chunk[0]! | (chunk[1]! << 8) | (chunk[2]! << 16)) + 4 === chunk.length
      )
        return this.onPacket(chunk);
      this.packets.push(chunk);
      for (let p = this.packets.next(); p && this.phase === 'routing'; p = this.own ? null : this.packets.next())
        this.onPacket(p.raw);
    } catch (err) {
      this.fail(1105, 'HY000', `Malformed packet: ${(err as Error).message}`, 1);
    }
  }

  private onPacket(raw: Buffer): void {
    const length = raw.length - 4;
    this.routedBytes += raw.length;
    const continuation = this.inContinuation;
    this.inContinuation = length === MAX_PAYLOAD;
    if (!continuation && raw[3] === 0 && length > 0) {
      const command = raw[4]!;
      this.statementsRouted++;
      this.commandPending = true;
      if (command === Command.QUIT) this.state = 'Stopping session';
      if (command === Command.INIT_DB) this.defaultDb = raw.toString('utf8', 5);
      if (command === Command.CHANGE_USER) {
        // Checked first; what the client sends meanwhile waits.
        this.own = { parts: [raw], left: 0 };
        this.settle(this.handleChangeUser(raw));
        return;
      }
      // A pass-through router never reads statements: a KILL naming a Weir session id is the session's to run.
      if (this.router!.passthrough && (command === Command.QUERY || command === Command.PROCESS_KILL)) {
        const kill = killRequest(raw);
        if (kill) {
          this.own = { parts: [raw], left: 0 };
          this.settle(this.runKill(kill));
          return;
        }
      }
      const answered = expectsReply(command);
      if (answered && this.replyPendingSince === 0) this.replyPendingSince = performance.now();
      if (!this.chain && answered) {
        const index = this.commandsSent++;
        if (this.deps.core.queries.active && COMMAND_NAMES[command]) {
          const sql =
            command === Command.STMT_EXECUTE
              ? `(prepared statement ${length >= 5 ? raw.readUInt32LE(5) : '?'})`
              : raw.toString('utf8', 5);
          this.observed.push({ index, command, sql, arrivedAt: Date.now(), routedAt: performance.now() });
        }
      }
    }
    if (this.chain) this.chain.fromClient(raw);
    else this.route(raw, null);
  }

  // ---- pass-through path: bytes as they came ----

  private forwardRaw(chunk: Buffer): void {
    // The rest of a packet being collected (its first bytes came in an earlier read).
    if (this.own && this.own.left > 0) return this.collectOwn(chunk);
    if (this.own || this.held.length) {
      // Kept until the change-user or KILL is answered: a copy, not a view of the read buffer.
      this.held.push(Buffer.from(chunk));
      if (!this.own) this.releaseHeld();
      return;
    }
    if (this.carry.length) {
      chunk = Buffer.concat([this.carry, chunk]);
      this.carry = EMPTY;
    }
    const split = this.scanCommands(chunk);
    if (split === null) return this.router!.forwardRaw(chunk);
    if (split.length < 0) {
      if (split.start > 0) this.router!.forwardRaw(chunk.subarray(0, split.start));
      this.carry = Buffer.from(chunk.subarray(split.start));
      return;
    }
    // A COM_CHANGE_USER or a KILL starts inside this chunk: forward what precedes it, collect it.
    if (split.start > 0) this.router!.forwardRaw(chunk.subarray(0, split.start));
    this.own = { parts: [], left: split.length + 4 };
    this.collectOwn(chunk.subarray(split.start));
  }

  /**
   * Finds the start of each client packet (sequence 0 = a new command) without copying.
   * Returns where a COM_CHANGE_USER or a KILL packet starts (header included), which must not
   * be forwarded as it is; where a packet starts whose header is cut off by the end of the chunk
   * (length -1: held back until the rest comes); null when the chunk can go through untouched.
   */
  private scanCommands(chunk: Buffer): { start: number; length: number } | null {
    let i = 0;
    while (i < chunk.length) {
      if (this.packetLeft > 0) {
        const n = Math.min(this.packetLeft, chunk.length - i);
        this.packetLeft -= n;
        i += n;
        continue;
      }
      const left = chunk.length - i;
      // Not yet enough to know what the packet is: keep it for the next read.
      if (left < 4) return { start: i, length: -1 };
      const length = chunk[i]! | (chunk[i + 1]! << 8) | (chunk[i + 2]! << 16);
      const sequence = chunk[i + 3]!;
      if (left === 4 && sequence === 0 && length > 0) return { start: i, length: -1 };
      const headerStart = i;
      i += 4;
      this.packetLeft = length;
      if (sequence === 0 && length > 0 && i < chunk.length) {
        const command = chunk[i]!;
        this.statementsRouted++;
        this.commandPending = true;
        if (this.replyPendingSince === 0 && command !== Command.QUIT) this.replyPendingSince = performance.now();
        if (command === Command.QUIT) this.state = 'Stopping session';
        if (command === Command.INIT_DB && i + length <= chunk.length)
          this.defaultDb = chunk.toString('utf8', i + 1, i + length);
        if (this.deps.core.queries.active && COMMAND_NAMES[command]) {
          // What of the statement this read holds: all of it, unless it is split across reads.
          const sql =
            command === Command.STMT_EXECUTE
              ? `(prepared statement ${i + 5 <= chunk.length ? chunk.readUInt32LE(i + 1) : '?'})`
              : chunk.toString('utf8', i + 1, Math.min(i + length, chunk.length));
          this.observed.push({ index: 0, command, sql, arrivedAt: Date.now(), routedAt: performance.now() });
        }
        const kill =
          command === Command.QUERY
            ? mayStartKill(chunk, i + 1) && this.queryKillsAt(chunk, i, length)
            : command === Command.PROCESS_KILL;
        if (kill || command === Command.CHANGE_USER) {
          this.packetLeft = 0;
          return { start: headerStart, length };
        }
      }
    }
    return null;
  }

  /**
   * Whether the COM_QUERY whose payload starts at `chunk[at]` (its command byte) must be
   * collected as a possible KILL: its first word is KILL, or cannot be seen in this read.
   */
  private queryKillsAt(chunk: Buffer, at: number, length: number): boolean {
    if (length >= MAX_PAYLOAD) return false;
    const end = at + length;
    if (end > chunk.length) return firstWord(chunk, at + 1, chunk.length, false) !== NOT_KILL;
    // All of it is here: decided now, so that only a real KILL stops the forwarding.
    return firstWord(chunk, at + 1, end, true) === MAYBE_KILL && killRequest(chunk.subarray(at - 4, end)) !== null;
  }

  private collectOwn(bytes: Buffer): void {
    const c = this.own!;
    const take = Math.min(c.left, bytes.length);
    // Kept across an await (the account check): a copy, not a view of the read buffer.
    c.parts.push(Buffer.from(bytes.subarray(0, take)));
    c.left -= take;
    if (take < bytes.length) this.held.push(Buffer.from(bytes.subarray(take)));
    if (c.left === 0) {
      const raw = Buffer.concat(c.parts);
      if (raw[4] === Command.CHANGE_USER) return this.settle(this.handleChangeUser(raw));
      const kill = killRequest(raw);
      if (kill) return this.settle(this.runKill(kill));
      // Its first word could not be seen in the read it started in, and it is no KILL: the server's.
      this.own = null;
      this.router!.forwardRaw(raw);
      this.releaseHeld();
    }
  }

  /**
   * A KILL of a Weir session (kill.ts): run by Weir, answered by Weir, never forwarded (the
   * server would read the id as one of its thread ids). What the client sent after it waits.
   */
  private async runKill(request: KillRequest): Promise<void> {
    const answer = await runKill(this.handle(), request);
    // null: the session killed itself and is closed.
    if (this.phase === 'closed' || answer === null) return;
    this.own = null;
    this.toClient(answer);
    this.releaseHeld();
  }

  /**
   * COM_CHANGE_USER carries a token made with Weir's scramble; each backend expects one made
   * with its own. Weir checks the token against the new user's account, recovers
   * SHA1(password), keeps it for backends opened later, and has the router re-token it for
   * each backend, as at login. A packet that does not read as COM_CHANGE_USER costs this
   * session only: ERR, then close.
   */
  private async handleChangeUser(raw: Buffer): Promise<void> {
    const caps = this.credentials!.capabilities;
    let parsed: ChangeUser;
    try {
      parsed = readChangeUser(raw.subarray(4), caps);
    } catch (err) {
      // A payload cut short: MariaDB answers ER_MALFORMED_PACKET and so does Weir, then closes.
      if (!(err instanceof ProtocolError)) throw err;
      return this.fail(
        1835,
        'HY000',
        `Malformed communication packet: COM_CHANGE_USER ${err.message}`,
        (raw[3]! + 1) & 0xff,
      );
    }
    const account =
      findAccount(await this.deps.accounts.get(), parsed.user, this.address) ??
      ((await this.deps.accounts.reloadIfAllowed())
        ? findAccount(await this.deps.accounts.get(), parsed.user, this.address)
        : undefined);
    let sha1: Buffer | null = null;
    try {
      if (account && (account.plugin === NATIVE || account.plugin === ''))
        sha1 = verifyToken(parsed.token, this.scramble, doubleSha1FromHash(account.authenticationString));
    } catch {
      sha1 = null;
    }
    if (this.phase === 'closed') return;
    const rootRefused = parsed.user.toLowerCase() === 'root' && this.serviceObj.params.root_user !== true;
    if (sha1 === null || rootRefused) {
      this.refuse(
        rootRefused ? 'root_refused' : account ? 'bad_password' : 'unknown_user',
        parsed.user,
        parsed.token.length > 0,
        1,
      );
      return;
    }
    this.user = parsed.user;
    this.defaultDb = parsed.database;
    this.credentials = {
      ...this.credentials!,
      user: parsed.user,
      passwordSha1: sha1,
      database: parsed.database,
      charset: parsed.charset ?? this.credentials!.charset,
    };
    this.own = null;
    this.chain?.changedUser();
    this.router!.changeUser(parsed, sha1, raw[3]!);
    this.releaseHeld();
  }

  private releaseHeld(): void {
    const held = this.held;
    this.held = [];
    if (this.passthrough) {
      for (const chunk of held) this.forwardRaw(chunk);
      return;
    }
    for (const chunk of held) this.framed(chunk);
    // Packets already framed before the change-user came are next.
    if (!this.own && this.packets.pending) this.framed(EMPTY);
  }

  routerState(): SessionRouterState | null {
    return this.router?.diagnostics?.() ?? null;
  }

  /** The monitor changed a server this session uses: its router decides what that means. */
  serverChanged(server: ConfigObject, event: ServerEvent): void {
    if (this.phase === 'closed') return;
    if (!this.router) {
      if (event === 'down') this.close(`server '${server.name}' is down`);
      return;
    }
    this.router.serverChanged(server, event);
  }

  /**
   * The router lost what it needs mid-session (a server gone, as MaxScale says with 2013
   * "Lost connection to backend server"): the client is told why with an error packet,
   * unless it is itself quitting, and the session closes.
   */
  private abort(code: number, sqlState: string, message: string): void {
    if (this.phase === 'closed') return;
    if (this.phase === 'routing' && this.state !== 'Stopping session')
      this.client.end(errPacket(this.errorSequence(), code, sqlState, message));
    this.close(message);
  }

  /**
   * Metrics: the time from a statement to the first byte of its reply, labelled with the
   * server that answered: the session's one backend on a pass-through router, the server a
   * statement went to with readwritesplit.
   */
  private timeReply(): void {
    this.replyTimer ??= this.deps.core.traffic.replyTimer(this.service, this.backends[0]?.server ?? '');
    this.replyTimer((performance.now() - this.replyPendingSince) / 1000);
    this.replyPendingSince = 0;
  }

  /**
   * A routed reply (readwritesplit), labelled with the server that sent it: its time (`seconds`,
   * -1: not timed) and the statement's traffic. Weir's own answers are timed under the first
   * backend's name and counted for no server.
   */
  private routedReply(server: string, seconds: number, replyBytes: number): void {
    const bytesIn = this.routedBytes;
    this.routedBytes = 0;
    if (!server) {
      if (seconds >= 0) this.deps.core.traffic.replyTimer(this.service, this.backends[0]?.server ?? '')(seconds);
      return;
    }
    // The last server's entry first: consecutive statements mostly go to the same one.
    let to = this.lastRoutedTo;
    if (to === null || to.server !== server) {
      to = this.routedTo.get(server) ?? null;
      if (to === null) {
        const traffic: TrafficTotals = { statements: 0, bytesIn: 0, bytesOut: 0, pauses: 0 };
        (this.byServer ??= new Map()).set(server, traffic);
        to = { server, traffic, timer: this.deps.core.traffic.replyTimer(this.service, server) };
        this.routedTo.set(server, to);
      }
      this.lastRoutedTo = to;
    }
    if (seconds >= 0) to.timer(seconds);
    const t = to.traffic;
    t.statements++;
    t.bytesIn += bytesIn;
    t.bytesOut += replyBytes;
  }

  /** A refused login: counted by reason, then MariaDB's access-denied error. */
  private refuse(reason: AuthFailure, user: string, usedPassword: boolean, sequence: number): void {
    this.deps.core.traffic.authFailed(this.service, reason);
    this.fail(
      1045,
      '28000',
      `Access denied for user '${user}'@'${this.address}' (using password: ${usedPassword ? 'YES' : 'NO'})`,
      sequence,
    );
  }

  private fail(code: number, sqlState: string, message: string, sequence = 2): void {
    if (this.phase === 'closed') return;
    // One throttling budget per error code: the text names the user, which a client chooses freely.
    this.deps.logger.warning(
      {
        kind: `session-error-${code}`,
        session: this.id,
        service: this.service,
        user: this.user,
        address: this.address,
        code,
      },
      message,
    );
    this.client.end(errPacket(sequence, code, sqlState, message));
    this.close(message);
  }

  private versionString(): string {
    const configured = this.serviceObj.params.version_string;
    if (typeof configured === 'string' && configured !== '') return configured;
    const known = stringList(this.serviceObj.params.servers!)
      .map((n) => this.deps.core.find('server', n)?.runtime.facts.version_string)
      .find((v): v is string => !!v);
    // MariaDB 10+ prefixes 5.5.5- so that old clients do not misread the major version.
    const version = known ?? '10.11.0-MariaDB';
    return /^\d\d\./.test(version) ? `5.5.5-${version}` : version;
  }
}
