/**
 * The seams of the data plane, as MaxScale cuts it: a Router per module, a RouterSession per
 * client session that decides which backend(s) get each client packet and what of their
 * replies reaches the client, and Backends that each own one server connection
 * (../backend.ts). The client session (../client-session.ts) does the handshake and the
 * authentication, frames the client's packets and runs the filter chain; then it hands
 * each packet to its RouterSession.
 */
import type { Core } from '../../core/core.ts';
import type { ConfigObject } from '../../core/objects.ts';
import type { BackendConnection, SessionRouterState } from '../../core/sessions.ts';
import type { WeirLogger } from '../../log/logger.ts';
import type { Credentials } from '../backend.ts';
import type { ChangeUser } from '../protocol/change-user.ts';
import type { Reply } from '../protocol/reply-tracker.ts';

/** A routing hint (hintfilter, namedserverfilter): where a statement should go. */
export type Hint =
  | { type: 'master' }
  | { type: 'slave' }
  | { type: 'last' }
  | { type: 'all' }
  | { type: 'server'; server: string }
  | { type: 'lag'; seconds: number };

/** What a router session may ask of its client session. */
export interface SessionHandle {
  readonly id: number;
  readonly service: ConfigObject;
  readonly core: Core;
  readonly logger: WeirLogger;
  /** The client's login, updated by COM_CHANGE_USER: what every backend logs in with. */
  credentials(): Credentials;
  readonly user: string;
  readonly address: string;
  /** The service's servers that exist, in `servers` order. */
  servers(): readonly ConfigObject[];
  /** Bytes for the client; false when its buffer is full. */
  toClient(bytes: Buffer): boolean;
  whenClientDrains(resume: () => void): void;
  pauseClient(): void;
  resumeClient(): void;
  /** A command's reply reached the client in full (filters and watchers follow replies). */
  replied(reply: Reply, server: string): void;
  /** The session's backends changed (GET /sessions/{id}/connections). */
  backendsChanged(backends: BackendConnection[]): void;
  /** Whether replies must be followed (filters or watchers need them) even on a pass-through router. */
  readonly followsReplies: boolean;
  /** Sends the client an error (sequence: that of the command's reply) and closes the session. */
  fail(code: number, sqlState: string, message: string): void;
  /** Closes the session (the client has been told, or cannot be). */
  close(reason: string): void;
}

export type ServerEvent = 'down' | 'lost_master' | 'changed';

export interface RouterSession {
  /**
   * Whether client bytes may go to the backend untouched (`forwardRaw`) when no filter needs
   * packets: readconnroute's fast path. A router that routes statements says false. A
   * pass-through router never sees a KILL of a Weir session id: the client session runs it
   * (kill-request.ts); a router that routes statements handles KILL itself (readwritesplit).
   */
  readonly passthrough: boolean;
  /** Connect-time work: pick and connect the first backends. Rejects when the session cannot start. */
  open(): Promise<void>;
  /** One complete client packet (header included); `hints` from the filters. */
  routeQuery(packet: Buffer, hints: Hint[] | null): void;
  /** Pass-through mode: client bytes as they arrived (never split at packet boundaries). */
  forwardRaw(chunk: Buffer): void;
  /** A COM_CHANGE_USER the session checked: each backend gets its own token from `passwordSha1`. */
  changeUser(request: ChangeUser, passwordSha1: Buffer, sequence: number): void;
  /**
   * The monitor changed what it knows of a server this session uses: `down`, `lost_master`
   * (it was the primary and is no longer), or `changed` (lag, maintenance, draining...).
   */
  serverChanged(server: ConfigObject, event: ServerEvent): void;
  /** What GET /sessions/{id} shows as the session's router_diagnostics (routers that track state). */
  diagnostics?(): SessionRouterState;
  close(): void;
}

export interface Router {
  readonly name: string;
  newSession(session: SessionHandle): RouterSession;
}
