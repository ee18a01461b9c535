/**
 * Transaction state of a readwritesplit session (readwritesplit reference §3): advanced by
 * the client's statements before they are routed, and corrected by the server status flags
 * of every complete reply (implicit commits, statements the classifier did not understand).
 */
import { Status } from '../../protocol/commands.ts';
import { Type } from './classify.ts';

export class TransactionTracker {
  active = false;
  readOnly = false;
  /** The transaction began with the statement being routed now (its first). */
  starting = false;
  /** The statement being routed ends it (COMMIT, ROLLBACK, SET autocommit=1). */
  ending = false;
  autocommit = true;
  /** `SET SESSION TRANSACTION READ ONLY`: later transactions are read-only. */
  defaultReadOnly = false;
  /** Every statement of the open transaction was a read (for the ro/rw statistics). */
  allReads = true;

  /** Advances the state for a statement of type mask `type`, before it is routed. */
  onStatement(type: number, readOnlyTrx: boolean): void {
    if (this.ending) {
      this.ending = false;
      this.active = false;
      this.readOnly = false;
      // With autocommit off, the end of one transaction starts the next.
      if (!this.autocommit) this.begin(this.defaultReadOnly);
    } else if (this.starting) {
      this.starting = false;
    } else if (!this.autocommit && !this.active) {
      this.begin(this.defaultReadOnly);
    }
    if (type & Type.BEGIN_TRX) {
      const ro = readOnlyTrx || (this.defaultReadOnly && !(type & Type.READWRITE));
      this.begin(ro);
    } else if (type & Type.DISABLE_AUTOCOMMIT) {
      this.autocommit = false;
      // The next statement opens the transaction; this one is a session command.
      if (!this.active) this.starting = false;
    } else if (type & (Type.COMMIT | Type.ROLLBACK)) {
      if (this.active) this.ending = true;
    } else if (type & Type.ENABLE_AUTOCOMMIT) {
      if (this.active) this.ending = true;
      this.autocommit = true;
    }
    if (type & Type.SESSION_WRITE && !(type & Type.NEXT_TRX)) {
      if (type & Type.READONLY) this.defaultReadOnly = true;
      if (type & Type.READWRITE) this.defaultReadOnly = false;
    }
  }

  private begin(readOnly: boolean): void {
    this.active = true;
    this.starting = true;
    this.ending = false;
    this.readOnly = readOnly;
    this.allReads = true;
  }

  /** The server's status flags from a complete reply's last OK or EOF. */
  onServerStatus(status: number): void {
    const inTrx = (status & Status.IN_TRANS) !== 0;
    this.autocommit = (status & Status.AUTOCOMMIT) !== 0;
    if (!this.active && inTrx) {
      this.begin((status & Status.IN_TRANS_READONLY) !== 0);
      this.starting = false;
    } else if (this.active && !this.starting && !this.ending && !inTrx) {
      // An implicit commit (DDL, LOCK TABLES...) or an end the classifier missed.
      this.ending = true;
    }
  }

  get inReadWriteTransaction(): boolean {
    return this.active && !this.readOnly && !this.ending;
  }

  get inReadOnlyTransaction(): boolean {
    return this.active && this.readOnly && !(this.ending && !this.starting);
  }
}
