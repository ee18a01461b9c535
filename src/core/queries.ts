/**
 * Statements passing through Weir, for whoever is watching (the command API's
 * `watch queries`, `monitor services`, `top queries`, `dashboard`). Sessions publish only
 * while someone subscribes, so with no watcher the data plane pays one boolean test per
 * command. Password literals are masked before any watcher sees a statement (redact.ts).
 */
import { redactSecrets } from './redact.ts';

export interface QueryEvent {
  time: Date;
  session: number;
  service: string;
  user: string;
  server: string;
  command: 'COM_QUERY' | 'COM_STMT_PREPARE' | 'COM_STMT_EXECUTE';
  sql: string;
  /** From routing the statement to the first byte of its reply. */
  durationMs: number;
  /** Whether the reply was an error; null when the session does not follow replies (no filters). */
  error: boolean | null;
}

export class QueryFeed {
  private readonly listeners = new Set<(event: QueryEvent) => void>();
  /** Read by sessions on every command: true while anyone listens. */
  active = false;

  subscribe(listener: (event: QueryEvent) => void): () => void {
    this.listeners.add(listener);
    this.active = true;
    return () => {
      this.listeners.delete(listener);
      this.active = this.listeners.size > 0;
    };
  }

  publish(event: QueryEvent): void {
    const shown = { ...event, sql: redactSecrets(event.sql) };
    for (const l of this.listeners) {
      try {
        l(shown);
      } catch {
        // A watcher's failure is its own; the statement's session carries on.
      }
    }
  }
}

export const COMMAND_NAMES: Record<number, QueryEvent['command']> = {
  0x03: 'COM_QUERY',
  0x16: 'COM_STMT_PREPARE',
  0x17: 'COM_STMT_EXECUTE',
};
