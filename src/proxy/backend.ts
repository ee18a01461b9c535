/**
 * A Backend owns one connection to one server on behalf of one client session: its socket,
 * its login (with the session's credentials, so a router can open one later or again), its
 * statistics and, when its router needs to know where replies end, its own reply tracker.
 *
 * Three ways to read the server (chosen by the router session):
 * - `raw`: every byte goes to the client untouched (readconnroute without filters);
 * - `observe`: every byte goes to the client, and the tracker reports each completed reply
 *   (readconnroute with filters, for the filters and watchers);
 * - `routed`: each command written says where its reply goes (the client, nowhere, or a
 *   buffer handed over when complete), and the tracker cuts the byte stream at reply
 *   boundaries (readwritesplit, where one session has several backends).
 */
import { connect, type Socket } from 'node:net';
import type { ConfigObject } from '../core/objects.ts';
import type { BackendConnection, ConnectionStats } from '../core/sessions.ts';
import {
  readAuthSwitchRequest,
  readInitialHandshake,
  writeHandshakeResponse,
  type InitialHandshake,
} from './protocol/handshake.ts';
import { countServerError, ErrScanner } from '../metrics/dataplane.ts';
import { tokenFor } from './protocol/native-password.ts';
import { Capability, packet, PacketFramer, ProtocolError, readErr } from './protocol/packets.ts';
import { keep } from './keep.ts';
import { ReplyTracker, type Reply } from './protocol/reply-tracker.ts';
import { useStaticReads, wrote } from './static-reads.ts';
// The global `performance` is a lazy getter: read per call on the hot path. The import is a plain binding.
import { performance } from 'node:perf_hooks';

/** What a session keeps of its client's login, so that backends can be opened at any time. */
export interface Credentials {
  user: string;
  /** SHA1(password), recovered while checking the client's token. */
  passwordSha1: Buffer;
  database: string | null;
  /** The client's capabilities; a backend gets those both sides support. */
  capabilities: number;
  charset: number;
  attributes: Buffer | null;
}

export interface BackendLogin extends Credentials {
  host: string;
  port: number;
  connectTimeoutMs: number;
}

/** The server answered with an error packet (wrong grants, unknown database, too many connections...). */
export class BackendError extends Error {
  /**
   * `server`: the server whose login or connection failed; null when no server could be
   * chosen at all (the router found none fit for the session).
   */
  constructor(
    readonly code: number,
    readonly sqlState: string,
    message: string,
    readonly server: string | null = null,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
  }
}

export interface OpenBackend {
  socket: Socket;
  handshake: InitialHandshake;
  capabilities: number;
  /** Bytes the server sent after its OK (none, normally): the reader gets them first. */
  leftover: Buffer;
}

export function openBackend(login: BackendLogin): Promise<OpenBackend> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: login.host, port: login.port });
    socket.setNoDelay(true);
    const framer = new PacketFramer(1 << 20);
    let handshake: InitialHandshake | null = null;
    let capabilities = 0;
    let done = false;
    const timer = setTimeout(
      () => fail(new Error(`no answer from ${login.host}:${login.port} within ${login.connectTimeoutMs} ms`)),
      login.connectTimeoutMs,
    );

    function fail(err: Error): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    }

    function onData(chunk: Buffer): void {
      framer.push(chunk);
      try {
        for (let p = framer.next(); p; p = framer.next()) {
          if (handshake === null) {
            if (p.payload[0] === 0xff) {
              const e = readErr(p.payload);
              return fail(new BackendError(e.code, e.sqlState, e.message));
            }
            handshake = readInitialHandshake(p.payload);
            capabilities =
              (login.capabilities & handshake.capabilities & ~Capability.SSL & ~Capability.COMPRESS) |
              Capability.PROTOCOL_41 |
              Capability.SECURE_CONNECTION |
              Capability.PLUGIN_AUTH;
            if (login.database) capabilities |= Capability.CONNECT_WITH_DB;
            else capabilities &= ~Capability.CONNECT_WITH_DB;
            socket.write(
              writeHandshakeResponse(p.sequence + 1, {
                capabilities,
                maxPacketSize: 0xffffff,
                charset: login.charset,
                user: login.user,
                authResponse: tokenFor(login.passwordSha1, handshake.scramble),
                database: login.database,
                authPlugin: 'mysql_native_password',
                attributes: capabilities & Capability.CONNECT_ATTRS ? login.attributes : null,
              }),
            );
            continue;
          }
          const kind = p.payload[0];
          if (kind === 0x00) {
            done = true;
            clearTimeout(timer);
            socket.off('data', onData);
            socket.off('error', fail);
            socket.off('close', onClose);
            // The socket stays paused until its reader attaches, so nothing is lost meanwhile.
            socket.pause();
            return resolve({
              socket,
              handshake,
              capabilities,
              leftover: framer.pending ? framer.drain() : Buffer.alloc(0),
            });
          }
          if (kind === 0xff) {
            const e = readErr(p.payload);
            return fail(new BackendError(e.code, e.sqlState, e.message));
          }
          if (kind === 0xfe) {
            const req = readAuthSwitchRequest(p.payload);
            if (req.plugin !== 'mysql_native_password') {
              return fail(
                new ProtocolError(
                  `the server asks for authentication plugin '${req.plugin}', which Weir does not support for backends`,
                ),
              );
            }
            socket.write(packet(p.sequence + 1, tokenFor(login.passwordSha1, req.data.subarray(0, 20))));
            continue;
          }
          return fail(
            new ProtocolError(`unexpected packet 0x${kind?.toString(16)} while authenticating to the server`),
          );
        }
      } catch (err) {
        fail(err as Error);
      }
    }
    const onClose = () => fail(new Error(`${login.host}:${login.port} closed the connection during the handshake`));
    socket.on('data', onData);
    socket.on('error', fail);
    socket.on('close', onClose);
  });
}

/** Where a routed command's reply goes. */
export type ReplySink = 'client' | 'discard' | 'buffer';

export interface Expectation {
  command: number;
  sink: ReplySink;
  /** The reply is complete; `bytes` holds all of it when the sink is `buffer`. */
  done(reply: Reply, bytes: Buffer | null): void;
  /** Sink `client`: rewrites each part of the reply on its way (causal reads hide their own result). */
  filter?: (part: Buffer) => Buffer;
}

/** What a backend needs of its session. */
export interface BackendOwner {
  /** Bytes for the client; false when the client's buffer is full. */
  toClient(bytes: Buffer): boolean;
  /** Calls back once the client has drained what it was sent. */
  whenClientDrains(resume: () => void): void;
  /** `observe` mode: a reply the client received is complete. */
  replied?(backend: Backend, reply: Reply): void;
  /** The connection broke, or the server sent what its protocol does not allow (`why`, for the client and the log). */
  lost(backend: Backend, why: string): void;
}

export type ReadMode = 'raw' | 'observe' | 'routed';

export class Backend {
  readonly stats: ConnectionStats = {
    reads: 0,
    writes: 0,
    buffered_writes: 0,
    high_water_events: 0,
    low_water_events: 0,
  };
  /** What GET /sessions/{id}/connections shows. */
  readonly view: BackendConnection;
  readonly scramble: Buffer;
  /** The server's connection id (its thread id), for KILL. */
  readonly threadId: number;
  readonly capabilities: number;
  closed = false;
  /** The password hash the backend answers authentication switches with (kept current by COM_CHANGE_USER). */
  passwordSha1: Buffer | null = null;
  /** Statements written (for per-server statistics and replica choice). */
  written = 0;
  lastWriteAt = 0;
  private readonly tracker: ReplyTracker | null;
  private readonly errors: ErrScanner | null;
  private readonly expectations: Expectation[] = [];
  private buffered: Buffer[] = [];
  private readonly socket: Socket;

  private constructor(
    readonly server: ConfigObject,
    opened: OpenBackend,
    readonly mode: ReadMode,
    private readonly owner: BackendOwner,
    role: string,
  ) {
    this.socket = opened.socket;
    this.scramble = keep(opened.handshake.scramble);
    this.threadId = opened.handshake.connectionId;
    this.capabilities = opened.capabilities;
    this.view = { server: server.name, state: 'DCB in the polling loop', role, stats: this.stats };
    this.view.bufferedBytes = () => this.socket.writableLength;
    this.view.hangup = (reason) => this.fail(reason);
    // Weir offers clients no MariaDB extended capabilities, so none are in effect with the backend.
    this.tracker =
      mode === 'raw' ? null : new ReplyTracker(opened.capabilities, 0, (reply, end) => this.onReply(reply, end));
    // Nothing parses the pass-through path's replies: the metrics' scanner finds its errors.
    this.errors = mode === 'raw' ? new ErrScanner(server.runtime.errorsByClass) : null;
    if (mode === 'routed') {
      // A COM_CHANGE_USER may be answered with an authentication switch (MariaDB sends a new
      // scramble): the backend answers with the session's password hash, as at login.
      this.tracker!.onAuthSwitch = (payload, sequence) => {
        try {
          const request = readAuthSwitchRequest(payload);
          if (request.plugin !== 'mysql_native_password')
            throw new ProtocolError(`the server asks for authentication plugin '${request.plugin}'`);
          this.socket.write(packet(sequence + 1, tokenFor(this.passwordSha1!, request.data.subarray(0, 20))));
        } catch (err) {
          this.fail(`re-authentication failed: ${(err as Error).message}`);
        }
      };
    }
    this.socket.on('error', () => this.fail('network error'));
    this.socket.on('close', () => this.fail('connection closed by the server'));
    if (opened.leftover.length) this.onData(opened.leftover);
    // Reads into one reused buffer where Node allows it (static-reads.ts); 'data' otherwise.
    if (!useStaticReads(this.socket, (chunk) => this.onData(chunk)))
      this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.resume();
  }

  /** Logs in to `server` with the session's credentials and counts the connection on it. */
  static async open(
    server: ConfigObject,
    credentials: Credentials,
    mode: ReadMode,
    owner: BackendOwner,
    role = 'Backend Request Handler',
  ): Promise<Backend> {
    server.runtime.currentConnections++;
    server.runtime.totalConnections++;
    try {
      const opened = await openBackend({
        ...credentials,
        host: String(server.params.address),
        port: Number(server.params.port),
        connectTimeoutMs: 10_000,
      });
      const backend = new Backend(server, opened, mode, owner, role);
      backend.passwordSha1 = credentials.passwordSha1;
      return backend;
    } catch (err) {
      server.runtime.currentConnections--;
      if (err instanceof BackendError) throw new BackendError(err.code, err.sqlState, err.message, server.name);
      throw new BackendError(
        2003,
        'HY000',
        `Can't connect to server '${server.name}': ${(err as Error).message}`,
        server.name,
        err,
      );
    }
  }

  /** Replies this backend still owes. */
  get pending(): number {
    return this.expectations.length;
  }

  /**
   * Writes a command packet. In `routed` mode a command that has a reply needs an
   * expectation; continuation packets and commands without a reply are written without.
   * `raw`/`observe`: `command` (the first byte of a new command) lets the tracker follow it.
   */
  write(bytes: Buffer, expectation: Expectation | null = null, command = -1): boolean {
    if (this.closed) return true;
    this.stats.writes++;
    if (expectation) {
      this.expectations.push(expectation);
      this.server.runtime.activeOperations++;
      this.tracker?.expect(expectation.command);
    } else if (command >= 0 && this.mode === 'observe') {
      this.tracker!.expect(command);
    }
    // Only readwritesplit picks replicas by it: no clock read per write elsewhere.
    if (this.mode === 'routed') this.lastWriteAt = performance.now();
    const ok = this.socket.write(bytes);
    wrote(this.socket);
    if (!ok) this.stats.buffered_writes++;
    return ok;
  }

  /** Calls back once the server has taken what it was sent. */
  whenDrained(resume: () => void): void {
    this.socket.once('drain', resume);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.view.state = 'Closed';
    this.socket.destroy();
    this.server.runtime.activeOperations = Math.max(0, this.server.runtime.activeOperations - this.expectations.length);
    this.server.runtime.currentConnections--;
  }

  private fail(reason: string): void {
    if (this.closed) return;
    this.close();
    this.owner.lost(this, reason);
  }

  private onData(chunk: Buffer): void {
    this.stats.reads++;
    if (this.mode !== 'routed') {
      this.tracker?.feed(chunk);
      this.errors?.feed(chunk);
      this.forward(chunk);
      return;
    }
    const tracker = this.tracker!;
    this.cut = 0;
    this.chunk = chunk;
    tracker.feed(chunk);
    if (this.closed) return;
    if (tracker.lost) return this.fail('the server sent a reply Weir cannot follow');
    if (this.cut < chunk.length) {
      const head = this.expectations[0];
      if (!head) return this.fail('the server sent data nobody asked for');
      this.deliver(head, chunk.subarray(this.cut));
    }
    this.chunk = null;
  }

  private cut = 0;
  private chunk: Buffer | null = null;

  private onReply(reply: Reply, end: number): void {
    if (reply.error) countServerError(this.server.runtime.errorsByClass, reply.error.sqlState);
    if (this.mode === 'observe') {
      this.owner.replied?.(this, reply);
      return;
    }
    const e = this.expectations.shift();
    if (!e || !this.chunk) return;
    if (this.server.runtime.activeOperations > 0) this.server.runtime.activeOperations--;
    this.deliver(e, this.cut === 0 && end === this.chunk.length ? this.chunk : this.chunk.subarray(this.cut, end));
    this.cut = end;
    let bytes: Buffer | null = null;
    if (e.sink === 'buffer') {
      bytes = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered);
      this.buffered = [];
    }
    e.done(reply, bytes);
  }

  private deliver(e: Expectation, part: Buffer): void {
    if (part.length === 0) return;
    if (e.sink === 'client') {
      const out = e.filter ? e.filter(part) : part;
      if (out.length) this.forward(out);
    }
    // A buffered reply outlives this read: keep a copy, not a view of the socket's buffer.
    else if (e.sink === 'buffer') this.buffered.push(Buffer.from(part));
  }

  private forward(bytes: Buffer): void {
    if (!this.owner.toClient(bytes)) {
      // The client reads slower than the server sends: pause the server until it drains.
      this.stats.high_water_events++;
      this.socket.pause();
      this.owner.whenClientDrains(() => {
        this.stats.low_water_events++;
        if (!this.closed) this.socket.resume();
      });
    }
  }
}
