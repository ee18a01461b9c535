/**
 * One client session: Weir's handshake, authenticating the client against the backends'
 * accounts, opening the backend connection readconnroute picked, and then forwarding
 * bytes both ways with backpressure, counting what the REST API shows.
 */
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { Core } from '../core/core.ts';
import { stringList, type ConfigObject } from '../core/objects.ts';
import type { BackendConnection, ConnectionStats, Session } from '../core/sessions.ts';
import type { WeirLogger } from '../log/logger.ts';
import { findAccount, normaliseAddress } from './accounts.ts';
import { BackendError, openBackend } from './backend.ts';
import { isSslRequest, readHandshakeResponse, writeAuthSwitchRequest, writeInitialHandshake, type HandshakeResponse } from './protocol/handshake.ts';
import { doubleSha1FromHash, newScramble, tokenFor, verifyToken } from './protocol/native-password.ts';
import { readChangeUser, writeChangeUser, type ChangeUser } from './protocol/change-user.ts';
import { Capability, errPacket, okPacket, PacketFramer, ProtocolError, SERVER_CAPABILITIES } from './protocol/packets.ts';
import { selectServer } from './routers/readconnroute.ts';
import { FilterChain } from './filters/chain.ts';
import { Command } from './reply-tracker.ts';
import type { Filters } from './filters/registry.ts';
import { COMMAND_NAMES } from '../core/queries.ts';
import { connectFailure, type AuthFailure, type ReplyTimer } from '../core/traffic.ts';
import type { ServiceAccounts } from './service-accounts.ts';

const HANDSHAKE_TIMEOUT_MS = 10_000;
const NATIVE = 'mysql_native_password';
const COM_QUIT = 0x01;
const COM_INIT_DB = 0x02;
const COM_CHANGE_USER = 0x11;
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
  private backendSocket: Socket | null = null;
  private server: ConfigObject | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Forwarding: bytes left of the current client packet, and a partial header. */
  private packetLeft = 0;
  private header = EMPTY;
  private commandPending = false;
  /** A COM_CHANGE_USER being collected and checked; client bytes after it wait in `held`. */
  private changeUser: { parts: Buffer[]; left: number } | null = null;
  private held: Buffer[] = [];
  private backendScramble: Buffer = Buffer.alloc(0);
  /** The service's filters for this session; null (no filters) keeps the byte-forwarding path. */
  private chain: FilterChain | null = null;
  /** Metrics: when the statement now waiting for its reply was sent (performance.now(); 0: none waits). */
  private replyPendingSince = 0;
  private replyTimer: ReplyTimer | null = null;
  /** Statements sent while someone watches, waiting for the first byte of their reply. */
  private observed: Array<{ command: number; sql: string; routedAt: number }> = [];

  private client: Socket;

  constructor(private readonly deps: SessionDeps, private readonly serviceObj: ConfigObject, socket: Socket) {
    this.id = deps.core.sessions.allocateId();
    this.service = serviceObj.name;
    this.address = normaliseAddress(socket.remoteAddress ?? '');
    this.port = socket.remotePort ?? 0;
    socket.setNoDelay(true);
    this.client = socket;
    this.attach(socket);
  }

  private attach(socket: Socket): void {
    socket.on('data', this.guard((d: Buffer) => this.onClientData(d)));
    socket.on('error', this.guard(() => this.close('client connection error')));
    socket.on('close', this.guard(() => this.close('client closed the connection')));
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
    if (err instanceof ProtocolError) return this.fail(1835, 'HY000', `Malformed communication packet: ${err.message}`, this.errorSequence());
    const e = err instanceof Error ? err : new Error(String(err));
    this.deps.logger.error({ session: this.id, service: this.service, user: this.user, err: e.stack ?? e.message }, `session ${this.id} failed: ${e.message}`);
    if (this.phase === 'closed') return;
    try {
      this.fail(1105, 'HY000', `Weir could not handle this session's traffic (${e.message}); the session is closed`, this.errorSequence());
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
    this.timer = setTimeout(() => this.fail(1043, '08S01', 'Bad handshake: the client did not log in in time'), HANDSHAKE_TIMEOUT_MS);
    this.client.write(writeInitialHandshake({
      connectionId: this.id, serverVersion: this.versionString(), scramble: this.scramble,
      capabilities: SERVER_CAPABILITIES | (this.deps.tls ? Capability.SSL : 0), charset: 45, status: 0x0002, authPlugin: NATIVE,
    }));
  }

  close(reason: string): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.state = 'Stopping session';
    if (this.timer) clearTimeout(this.timer);
    this.client.destroy();
    this.backendSocket?.destroy();
    this.chain?.close();
    if (this.server) {
      this.server.runtime.currentConnections--;
      this.deps.core.touch(this.server);
    }
    if (this.deps.core.sessions.get(this.id) === this) {
      this.deps.core.sessions.remove(this.id);
      this.serviceObj.runtime.currentConnections--;
      this.deps.core.touch(this.serviceObj);
    }
    this.deps.logger.info({ session: this.id, service: this.service, user: this.user, reason }, `session ${this.id} closed: ${reason}`);
  }

  /** connection_timeout ran out: tell the client, as MariaDB does, and close. */
  timeOut(): void {
    if (this.phase === 'closed') return;
    this.client.end(errPacket(this.commandPending ? 1 : 0, 4031, 'HY000', 'The client was disconnected by the server because of inactivity.'));
    this.close('idle for longer than connection_timeout');
  }

  // ---- connection phase ----

  private onClientData(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    this.lastActivity = Date.now();
    if (this.phase === 'routing') return this.chain ? this.chain.fromClient(chunk) : this.forwardToBackend(chunk);
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
          return this.fail(1045, '28000', `Access denied for user '${this.user}'@'${this.address}': this listener requires TLS (ssl=required)`, p.sequence + 1);
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
        return this.fail(1045, '28000', `Weir cannot log '${r.user}' in: the account uses the '${account.plugin}' authentication plugin, and Weir supports only mysql_native_password`, sequence);
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
    await this.connectBackend(passwordSha1, sequence);
  }

  private async connectBackend(passwordSha1: Buffer, sequence: number): Promise<void> {
    const r = this.response!;
    const servers = stringList(this.serviceObj.params.servers!).map((n) => this.deps.core.find('server', n)).filter((s): s is ConfigObject => !!s);
    const server = selectServer(this.serviceObj, servers);
    if (!server) {
      this.deps.core.traffic.authFailed(this.service, 'no_server');
      const options = stringList(this.serviceObj.params.router_options!).join(',');
      return this.fail(2003, 'HY000', `No server of service '${this.service}' can take the session (router_options=${options}); check the servers' states`, sequence);
    }
    this.state = 'Connecting to backend';
    this.server = server;
    server.runtime.currentConnections++;
    server.runtime.totalConnections++;
    this.deps.core.touch(server);
    try {
      const backend = await openBackend({
        host: String(server.params.address), port: Number(server.params.port), user: r.user, passwordSha1,
        database: r.database, capabilities: r.capabilities, charset: r.charset, attributes: r.attributes, connectTimeoutMs: 10_000,
      });
      if (this.phase === 'closed') {
        backend.socket.destroy();
        return;
      }
      this.backendScramble = backend.handshake.scramble;
      this.startRouting(backend.socket, server, sequence, backend.capabilities);
    } catch (err) {
      this.deps.core.traffic.connectFailed(server.name, connectFailure(err));
      if (err instanceof BackendError) return this.fail(err.code, err.sqlState, err.message, sequence);
      return this.fail(2003, 'HY000', `Can't connect to server '${server.name}': ${(err as Error).message}`, sequence);
    }
  }

  private startRouting(socket: Socket, server: ConfigObject, sequence: number, capabilities: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.backendSocket = socket;
    this.defaultDb = this.response!.database;
    const stats: ConnectionStats = { reads: 0, writes: 0, buffered_writes: 0, high_water_events: 0, low_water_events: 0 };
    this.backends = [{ server: server.name, state: 'DCB in the polling loop', role: 'Backend Request Handler', stats }];
    this.phase = 'routing';
    this.state = 'Session ready for routing';
    this.lastModified = new Date();
    this.client.write(okPacket(sequence));
    this.chain = this.buildChain(capabilities);
    this.replyTimer = this.deps.core.traffic.replyTimer(this.service, server.name);

    socket.on('data', this.guard((chunk: Buffer) => {
      stats.reads++;
      this.bytesOut += chunk.length;
      this.commandPending = false;
      if (this.replyPendingSince !== 0) {
        this.replyTimer!((performance.now() - this.replyPendingSince) / 1000);
        this.replyPendingSince = 0;
      }
      if (this.chain) this.chain.fromServer(chunk);
      else if (this.observed.length) {
        const o = this.observed.shift()!;
        const now = performance.now();
        this.publishQuery(o.command, o.sql, Date.now() - (now - o.routedAt), o.routedAt, now, null);
      }
      if (!this.client.write(chunk)) {
        // The client reads slower than the server sends: pause the server until it drains.
        stats.high_water_events++;
        socket.pause();
        this.client.once('drain', () => {
          stats.low_water_events++;
          socket.resume();
        });
      }
    }));
    socket.on('error', this.guard(() => this.backendLost(server, 'network error')));
    socket.on('close', this.guard(() => this.backendLost(server, 'connection closed by the server')));
    const early = this.framer.drain();
    if (early.length) {
      if (this.chain) this.chain.fromClient(early);
      else this.forwardToBackend(early);
    }
  }

  private buildChain(capabilities: number): FilterChain | null {
    const filters = this.deps.filters.chainFor(this.serviceObj, {
      id: this.id, service: this.service, user: this.user, address: this.address, connected: this.connected,
      defaultDb: () => this.defaultDb,
    });
    if (filters.length === 0) return null;
    return new FilterChain(filters, capabilities, {
      forward: (bytes) => this.forwardToBackend(bytes),
      refuse: (message, sequence) => this.fail(1105, 'HY000', message, sequence),
      pauseClient: () => this.client.pause(),
      resumeClient: () => this.client.resume(),
      filterFailed: (err) => this.deps.logger.error({ session: this.id, service: this.service, err: err.message }, `a filter of service '${this.service}' failed: ${err.message}`),
      observe: (statement, reply) => this.publishQuery(statement.command, statement.sql, statement.arrivedAt, statement.routedAt, reply.firstByteAt, reply.error !== null),
    });
  }

  /**
   * A statement (arrived at `time`, epoch ms) and its reply's first byte (performance.now()
   * times), for watchers. A session without filters does not follow replies, so it knows no
   * outcome (`error` null).
   */
  private publishQuery(command: number, sql: string, time: number, routedAt: number, firstByteAt: number, error: boolean | null): void {
    if (!this.deps.core.queries.active) return;
    this.deps.core.queries.publish({
      time: new Date(time), session: this.id, service: this.service, user: this.user,
      server: this.server?.name ?? '', command: COMMAND_NAMES[command]!, sql, durationMs: Math.max(0, firstByteAt - routedAt), error,
    });
  }

  private forwardToBackend(chunk: Buffer): void {
    if (this.changeUser || this.held.length) {
      this.held.push(chunk);
      if (!this.changeUser) this.releaseHeld();
      return;
    }
    const split = this.scanCommands(chunk);
    if (split === null) return this.writeBackend(chunk);
    // A COM_CHANGE_USER starts inside this chunk: forward what precedes it, collect it.
    if (split.start > 0) this.writeBackend(chunk.subarray(0, split.start));
    this.changeUser = { parts: [], left: split.length + 4 };
    this.collectChangeUser(chunk.subarray(split.start));
  }

  private writeBackend(chunk: Buffer): void {
    const stats = this.backends[0]!.stats;
    stats.writes++;
    if (!this.backendSocket!.write(chunk)) {
      stats.buffered_writes++;
      this.client.pause();
      this.backendSocket!.once('drain', () => this.client.resume());
    }
  }

  /**
   * Finds the start of each client packet (sequence 0 = a new command) without copying.
   * Returns where a COM_CHANGE_USER packet starts (header included), which must not be
   * forwarded as it is; null when the chunk can go through untouched.
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
      const headerStart = i - this.header.length;
      let length: number;
      let sequence: number;
      if (this.header.length === 0 && i + 4 <= chunk.length) {
        // The usual case: the whole header is in this chunk; read it in place.
        length = chunk[i]! | (chunk[i + 1]! << 8) | (chunk[i + 2]! << 16);
        sequence = chunk[i + 3]!;
        i += 4;
      } else {
        const need = 4 - this.header.length;
        this.header = Buffer.concat([this.header, chunk.subarray(i, i + need)]);
        i += Math.min(need, chunk.length - i);
        if (this.header.length < 4) return null;
        length = this.header.readUIntLE(0, 3);
        sequence = this.header[3]!;
        this.header = EMPTY;
      }
      this.packetLeft = length;
      if (sequence === 0 && length > 0 && i < chunk.length) {
        const command = chunk[i]!;
        this.statementsRouted++;
        this.commandPending = true;
        if (this.replyPendingSince === 0 && command !== COM_QUIT) this.replyPendingSince = performance.now();
        if (command === COM_QUIT) this.state = 'Stopping session';
        if (command === COM_INIT_DB && i + length <= chunk.length) this.defaultDb = chunk.toString('utf8', i + 1, i + length);
        if (this.deps.core.queries.active && !this.chain && COMMAND_NAMES[command]) {
          // What of the statement this read holds: all of it, unless it is split across reads.
          const sql = command === Command.STMT_EXECUTE
            ? `(prepared statement ${i + 5 <= chunk.length ? chunk.readUInt32LE(i + 1) : '?'})`
            : chunk.toString('utf8', i + 1, Math.min(i + length, chunk.length));
          this.observed.push({ command, sql, routedAt: performance.now() });
        }
        if (command === COM_CHANGE_USER && headerStart >= 0) {
          this.packetLeft = 0;
          return { start: headerStart, length };
        }
      }
    }
    return null;
  }

  private collectChangeUser(bytes: Buffer): void {
    const c = this.changeUser!;
    const take = Math.min(c.left, bytes.length);
    c.parts.push(bytes.subarray(0, take));
    c.left -= take;
    if (take < bytes.length) this.held.push(bytes.subarray(take));
    if (c.left === 0) this.settle(this.handleChangeUser(Buffer.concat(c.parts)));
  }

  /**
   * COM_CHANGE_USER carries a token made with Weir's scramble; the backend expects one made
   * with its own. Weir checks the token against the new user's account, recovers SHA1(password)
   * and rewrites the token for the backend, as it did at login.
   */
  private async handleChangeUser(raw: Buffer): Promise<void> {
    const caps = this.response!.capabilities;
    let parsed: ChangeUser;
    try {
      parsed = readChangeUser(raw.subarray(4), caps);
    } catch (err) {
      // A payload cut short: MariaDB answers ER_MALFORMED_PACKET and so does Weir, then closes.
      if (!(err instanceof ProtocolError)) throw err;
      return this.fail(1835, 'HY000', `Malformed communication packet: COM_CHANGE_USER ${err.message}`, (raw[3]! + 1) & 0xff);
    }
    const account = findAccount(await this.deps.accounts.get(), parsed.user, this.address)
      ?? ((await this.deps.accounts.reloadIfAllowed()) ? findAccount(await this.deps.accounts.get(), parsed.user, this.address) : undefined);
    let sha1: Buffer | null = null;
    try {
      if (account && (account.plugin === NATIVE || account.plugin === '')) sha1 = verifyToken(parsed.token, this.scramble, doubleSha1FromHash(account.authenticationString));
    } catch {
      sha1 = null;
    }
    if (this.phase === 'closed') return;
    const rootRefused = parsed.user.toLowerCase() === 'root' && this.serviceObj.params.root_user !== true;
    if (sha1 === null || rootRefused) {
      this.refuse(rootRefused ? 'root_refused' : account ? 'bad_password' : 'unknown_user', parsed.user, parsed.token.length > 0, 1);
      return;
    }
    this.user = parsed.user;
    this.defaultDb = parsed.database;
    this.changeUser = null;
    this.writeBackend(writeChangeUser(raw[3]!, { ...parsed, token: tokenFor(sha1, this.backendScramble) }, caps));
    this.releaseHeld();
  }

  private releaseHeld(): void {
    const held = this.held;
    this.held = [];
    for (const chunk of held) this.forwardToBackend(chunk);
  }

  private backendLost(server: ConfigObject, why: string): void {
    this.serverLost(server.name, why);
  }

  /**
   * The session's server is gone: its connection broke, or the monitor found the server
   * down (a killed or a frozen server) or no longer fit for the service. The client is told
   * why with an error packet, as MaxScale does (2013, "Lost connection to backend server"),
   * unless it is itself quitting, and the session closes.
   */
  serverLost(server: string, why: string): void {
    if (this.phase === 'closed') return;
    if (this.phase === 'routing' && this.state !== 'Stopping session') {
      this.client.end(errPacket(this.errorSequence(), 2013, 'HY000', `Lost connection to backend server '${server}': ${why}`));
    }
    this.close(`connection to server '${server}' lost: ${why}`);
  }

  /** A refused login: counted by reason, then MariaDB's access-denied error. */
  private refuse(reason: AuthFailure, user: string, usedPassword: boolean, sequence: number): void {
    this.deps.core.traffic.authFailed(this.service, reason);
    this.fail(1045, '28000', `Access denied for user '${user}'@'${this.address}' (using password: ${usedPassword ? 'YES' : 'NO'})`, sequence);
  }

  private fail(code: number, sqlState: string, message: string, sequence = 2): void {
    if (this.phase === 'closed') return;
    // One throttling budget per error code: the text names the user, which a client chooses freely.
    this.deps.logger.warning({ kind: `session-error-${code}`, session: this.id, service: this.service, user: this.user, address: this.address, code }, message);
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

