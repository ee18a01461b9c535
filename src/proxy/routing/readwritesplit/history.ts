/**
 * The session command history (readwritesplit reference §4): what changed the session's
 * state, in order, with the outcome the client saw, so that a backend opened later can be
 * brought to the same state. Binary PREPAREs are kept apart from the limit and never pruned
 * (a backend without them could not run the statements the client holds ids for).
 */
export interface HistoryEntry {
  /** The command packet as the client sent it (a copy). */
  packet: Buffer;
  command: number;
  /** For a COM_STMT_PREPARE: the id the client knows the statement by. */
  statementId: number | null;
  /** The replier's outcome: true OK, false ERR, null not known yet. */
  ok: boolean | null;
}

export interface HistoryLimits {
  max: number;
  prune: boolean;
  disabled: boolean;
}

export class SessionCommandHistory {
  readonly entries: HistoryEntry[] = [];
  /** Something was left out: new backends could not be brought to the session's state. */
  lost = false;

  constructor(private readonly limits: HistoryLimits) {}

  /** Whether backends may be opened mid-session (MaxScale's "can recover state"). */
  get canRecover(): boolean {
    return !this.lost;
  }

  add(entry: HistoryEntry): void {
    if (this.limits.disabled) {
      this.lost = true;
      return;
    }
    if (entry.statementId === null) {
      // An identical command again moves to the end instead of being kept twice.
      const same = this.entries.findIndex((e) => e.statementId === null && e.packet.equals(entry.packet));
      if (same >= 0 && this.limits.prune) this.entries.splice(same, 1);
    }
    this.entries.push(entry);
    let counted = this.entries.filter((e) => e.statementId === null).length;
    while (counted > this.limits.max) {
      if (!this.limits.prune) {
        this.lost = true;
        // The history no longer says everything; it is of no use to new backends now.
        return;
      }
      const oldest = this.entries.findIndex((e) => e.statementId === null);
      this.entries.splice(oldest, 1);
      counted--;
    }
  }

  /** COM_STMT_CLOSE: the PREPARE is not needed by new backends any more. */
  forgetStatement(statementId: number): void {
    const i = this.entries.findIndex((e) => e.statementId === statementId);
    if (i >= 0) this.entries.splice(i, 1);
  }

  /** COM_CHANGE_USER, COM_RESET_CONNECTION: a fresh session state. */
  clear(): void {
    this.entries.length = 0;
    this.lost = false;
  }
}
