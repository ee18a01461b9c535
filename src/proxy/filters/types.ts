/**
 * The filter chain's contract. A service's `filters` list gives, for each new session, one
 * FilterSession per filter, in order. Each client statement (COM_QUERY, and prepared
 * statements at COM_STMT_PREPARE and each COM_STMT_EXECUTE) passes through them before the
 * router; each reply, as the reply tracker saw it, comes back after the backend.
 */
import type { Reply } from '../protocol/reply-tracker.ts';
import type { Hint } from '../routing/router.ts';

export interface SessionInfo {
  id: number;
  service: string;
  user: string;
  /** The client's address. */
  address: string;
  connected: Date;
  /** The session's current default database. */
  defaultDb(): string | null;
}

export interface Statement {
  sql: string;
  /** COM_QUERY (0x03), COM_STMT_PREPARE (0x16) or COM_STMT_EXECUTE (0x17). */
  command: number;
  /** performance.now() when it was handed to the router. */
  routedAt: number;
  /** Date.now() when it arrived. */
  arrivedAt: number;
}

/** What a filter wants done with a statement; nothing means pass it on as it is. */
export interface Verdict {
  /** Replace the statement's text (COM_QUERY and COM_STMT_PREPARE only). */
  sql?: string;
  /** Hold the statement (and the session's later ones) this long first. */
  delayMs?: number;
  /** Close the session with this error message instead of routing the statement. */
  close?: string;
  /** Routing hints for the router (hintfilter, namedserverfilter); later filters' hints come after. */
  hints?: Hint[];
}

export interface FilterSession {
  statement?(statement: Statement): Verdict | void;
  reply?(statement: Statement, reply: Reply): void;
  /** The session ended. */
  close?(): void;
}

/** One filter object's live instance: parameters read once, shared state (files) held. */
export interface FilterInstance {
  /** A session of this filter, or null when the filter does not apply to it (user, source). */
  newSession(session: SessionInfo): FilterSession | null;
  /** `POST /maxscale/logs/flush`: reopen files by name. */
  reopen?(): void;
  /** The filter was changed or destroyed: release what it holds once its sessions are gone. */
  retire(): void;
}
