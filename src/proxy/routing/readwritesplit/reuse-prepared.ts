/**
 * reuse_prepared_statements (readwritesplit reference §2.6): a session that prepares the same
 * SQL again gets the first PREPARE's answer (the same Weir statement id) without a round trip
 * to any server, and the client's COM_STMT_CLOSEs are ignored so that the statement stays
 * open for the next prepare. For applications that prepare and close per execution.
 */
export class ReusedPrepares {
  private readonly bySql = new Map<string, { id: number; response: Buffer }>();

  constructor(readonly enabled: boolean) {}

  /** The cached PREPARE response of `sql` (a copy), or null. */
  get(sql: string): { id: number; response: Buffer } | null {
    const hit = this.enabled ? this.bySql.get(sql) : undefined;
    return hit ? { id: hit.id, response: Buffer.from(hit.response) } : null;
  }

  remember(sql: string, id: number, response: Buffer): void {
    if (this.enabled) this.bySql.set(sql, { id, response: Buffer.from(response) });
  }

  /** COM_CHANGE_USER, COM_RESET_CONNECTION: the servers closed every statement. */
  clear(): void {
    this.bySql.clear();
  }
}
