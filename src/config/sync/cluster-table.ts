/**
 * The configuration row on the cluster's primary, in MaxScale's table
 * (`<config_sync_db>.maxscale_config`: cluster, version, config, origin, nodes), so the
 * layout is the one MaxScale creates and documents. One dedicated connection, never
 * pooled: a change holds the row lock (`SELECT ... FOR UPDATE`) on it from the version
 * check to the COMMIT, which is what makes concurrent changes on several instances
 * single-writer (optimistic concurrency on `version`, enforced by the row lock).
 */
import mysql, { type Connection, type ResultSetHeader } from 'mysql2/promise';

export interface Endpoint {
  host: string;
  port: number;
  user: string;
  password: string;
  /** ms */
  timeout: number;
}

export interface ClusterRow {
  version: number;
  origin: string;
  nodes: Record<string, string>;
}

/** MariaDB error numbers a concurrent first change ends in. */
const RACE_ERRORS = new Set([1062 /* ER_DUP_ENTRY */, 1213 /* ER_LOCK_DEADLOCK */, 1205 /* ER_LOCK_WAIT_TIMEOUT */]);
const NO_SUCH_TABLE = 1146;

export function isRaceError(err: unknown): boolean {
  return RACE_ERRORS.has((err as { errno?: number }).errno ?? 0);
}

export class ClusterTable {
  private conn: Connection | null = null;
  private connectedTo = '';

  constructor(
    private readonly db: string,
    private readonly cluster: string,
  ) {}

  private get table(): string {
    return `\`${this.db}\`.maxscale_config`;
  }

  /** Connects to `e` (reusing the connection when it is to the same server and alive). */
  async connect(e: Endpoint): Promise<void> {
    const key = `${e.host}:${e.port}:${e.user}`;
    if (this.conn && this.connectedTo === key) return;
    this.close();
    const conn = await mysql.createConnection({
      host: e.host,
      port: e.port,
      user: e.user,
      password: e.password,
      connectTimeout: e.timeout,
      supportBigNumbers: true,
      bigNumberStrings: false,
      enableKeepAlive: true,
    });
    conn.on('error', () => this.close());
    try {
      await conn.query(`SET SESSION innodb_lock_wait_timeout = ${Math.max(1, Math.ceil(e.timeout / 1000))}`);
    } catch (err) {
      conn.destroy();
      throw err;
    }
    this.conn = conn;
    this.connectedTo = key;
  }

  close(): void {
    this.conn?.destroy();
    this.conn = null;
    this.connectedTo = '';
  }

  private async query<T = Array<Record<string, unknown>>>(
    sql: string,
    values: unknown[] = [],
    timeout?: number,
  ): Promise<T> {
    if (!this.conn) throw new Error('not connected to the cluster');
    try {
      const [rows] = await this.conn.query({ sql, values, ...(timeout !== undefined && { timeout }) });
      return rows as T;
    } catch (err) {
      // A timed-out or broken connection is not reused: its state is unknown.
      if ((err as { fatal?: boolean }).fatal || (err as { code?: string }).code === 'PROTOCOL_SEQUENCE_TIMEOUT')
        this.close();
      throw err;
    }
  }

  async createTable(): Promise<void> {
    await this.query(`CREATE TABLE IF NOT EXISTS ${this.table}(
      cluster VARCHAR(256) PRIMARY KEY, version BIGINT NOT NULL, config JSON NOT NULL,
      origin VARCHAR(254) NOT NULL, nodes JSON NOT NULL) ENGINE=InnoDB`);
  }

  /** Starts a change: the row's version (null without a row), locked until commit or rollback. */
  async lock(timeout: number): Promise<number | null> {
    for (let attempt = 0; ; attempt++) {
      await this.query('START TRANSACTION');
      try {
        const rows = await this.query(
          `SELECT version FROM ${this.table} WHERE cluster = ? FOR UPDATE`,
          [this.cluster],
          timeout,
        );
        return rows.length ? Number(rows[0]!.version) : null;
      } catch (err) {
        await this.rollback();
        if ((err as { errno?: number }).errno !== NO_SUCH_TABLE || attempt > 0) throw err;
        await this.createTable();
      }
    }
  }

  /** Writes version `next` over `previous` (or inserts the first row); throws when the row moved. */
  async write(previous: number | null, next: number, config: string, origin: string): Promise<void> {
    const nodes = JSON.stringify({ [origin]: 'OK' });
    if (previous === null) {
      await this.query(`INSERT INTO ${this.table}(cluster, version, config, origin, nodes) VALUES (?, ?, ?, ?, ?)`, [
        this.cluster,
        next,
        config,
        origin,
        nodes,
      ]);
      return;
    }
    const res = await this.query<ResultSetHeader>(
      `UPDATE ${this.table} SET version = ?, config = ?, origin = ?, nodes = ? WHERE cluster = ? AND version = ?`,
      [next, config, origin, nodes, this.cluster, previous],
    );
    if (res.affectedRows !== 1)
      throw Object.assign(new Error(`the stored version is no longer ${previous}`), { errno: 1213 });
  }

  /** Commits; returns the GTID of the transaction (empty without binary logging). */
  async commit(): Promise<string> {
    await this.query('COMMIT');
    const rows = await this.query('SELECT @@last_gtid AS gtid');
    return String(rows[0]?.gtid ?? '');
  }

  async rollback(): Promise<void> {
    try {
      await this.query('ROLLBACK');
    } catch {
      this.close(); // the server rolls back when the connection goes
    }
  }

  /** The row's version, origin and nodes (autocommit read; null without table or row). */
  async read(): Promise<ClusterRow | null> {
    try {
      const rows = await this.query(`SELECT version, origin, nodes FROM ${this.table} WHERE cluster = ?`, [
        this.cluster,
      ]);
      if (!rows.length) return null;
      return { version: Number(rows[0]!.version), origin: String(rows[0]!.origin), nodes: parseNodes(rows[0]!.nodes) };
    } catch (err) {
      if ((err as { errno?: number }).errno === NO_SUCH_TABLE) return null;
      throw err;
    }
  }

  /** The stored configuration document, when newer than `since`. */
  async fetch(since: number): Promise<{ version: number; origin: string; config: unknown } | null> {
    const rows = await this.query(
      `SELECT version, origin, config FROM ${this.table} WHERE cluster = ? AND version > ?`,
      [this.cluster, since],
    );
    if (!rows.length) return null;
    const raw = rows[0]!.config;
    return {
      version: Number(rows[0]!.version),
      origin: String(rows[0]!.origin),
      config: typeof raw === 'string' ? JSON.parse(raw) : raw,
    };
  }

  /** Records this node's status for `version`; a stale node does not write into a newer row. */
  async report(node: string, version: number, status: string): Promise<void> {
    await this.query(
      `UPDATE ${this.table} SET nodes = JSON_SET(nodes, CONCAT('$.', JSON_QUOTE(?)), ?) WHERE cluster = ? AND version = ?`,
      [node, status, this.cluster, version],
    );
  }

  /**
   * Waits until the server at `e` has applied `gtid` (MASTER_GTID_WAIT), on its own
   * short-lived connection. Resolves true when it has.
   */
  static async replicaHas(e: Endpoint, gtid: string, timeoutMs: number): Promise<boolean> {
    let conn: Connection | null = null;
    try {
      conn = await mysql.createConnection({
        host: e.host,
        port: e.port,
        user: e.user,
        password: e.password,
        connectTimeout: e.timeout,
      });
      conn.on('error', () => undefined);
      const [rows] = await conn.query({
        sql: 'SELECT MASTER_GTID_WAIT(?, ?) AS r',
        values: [gtid, timeoutMs / 1000],
        timeout: timeoutMs + 5000,
      });
      return Number((rows as Array<{ r: unknown }>)[0]?.r) === 0;
    } catch {
      return false;
    } finally {
      conn?.destroy();
    }
  }
}

function parseNodes(raw: unknown): Record<string, string> {
  try {
    const v = typeof raw === 'string' ? JSON.parse(raw) : raw;
    if (!v || typeof v !== 'object') return {};
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>).map(([k, s]) => [k, typeof s === 'string' ? s : JSON.stringify(s)]),
    );
  } catch {
    return {};
  }
}
