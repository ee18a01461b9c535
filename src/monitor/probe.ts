/**
 * What one monitoring round learns from one server, over one long-lived mysql2
 * connection per server (reconnected when it breaks). These are the queries MaxScale's
 * mariadbmon runs for the same facts.
 */
import mysql, { type Connection } from 'mysql2/promise';

export interface SlaveConnection {
  connection_name: string;
  master_host: string;
  master_port: number;
  io_running: boolean;
  /** `Yes`, `Connecting` (configured, trying to reach its primary) or `No` (stopped). */
  io_state: string;
  sql_running: boolean;
  seconds_behind_master: number | null;
  gtid_io_pos: string;
  last_io_error: string;
  last_sql_error: string;
  last_io_errno: number;
  last_sql_errno: number;
}

export type ProbeResult =
  | {
      status: 'up';
      server_id: number;
      read_only: boolean;
      version: string;
      gtid_current_pos: string;
      gtid_binlog_pos: string;
      slaves: SlaveConnection[];
      warning?: string;
    }
  | { status: 'down'; error: string }
  | { status: 'auth_error'; error: string };

export interface ProbeTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  /** seconds */
  connectTimeout: number;
  /** seconds */
  readTimeout: number;
}

const ACCESS_DENIED = new Set([
  'ER_ACCESS_DENIED_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  'ER_ACCESS_DENIED_NO_PASSWORD_ERROR',
]);

export class ServerProbe {
  private conn: Connection | null = null;
  private key = '';

  async probe(target: ProbeTarget): Promise<ProbeResult> {
    try {
      const conn = await this.connection(target);
      const timeout = target.readTimeout * 1000;
      const [vars] = await conn.query({
        sql:
          'SELECT @@global.server_id AS server_id, @@global.read_only AS read_only, @@version AS version, ' +
          '@@global.gtid_current_pos AS gtid_current_pos, @@global.gtid_binlog_pos AS gtid_binlog_pos',
        timeout,
      });
      let slaveRows: unknown = [];
      let warning: string | undefined;
      try {
        [slaveRows] = await conn.query({ sql: 'SHOW ALL SLAVES STATUS', timeout });
      } catch (err) {
        // Missing REPLICA MONITOR privilege: the server is up, its replication unknown.
        if ((err as { errno?: number }).errno !== 1227) throw err;
        warning = `the monitor user cannot read replication status: ${(err as Error).message}`;
      }
      const v = (vars as Array<Record<string, unknown>>)[0]!;
      return {
        status: 'up',
        server_id: Number(v.server_id),
        read_only: Number(v.read_only) === 1,
        version: String(v.version),
        gtid_current_pos: String(v.gtid_current_pos ?? ''),
        gtid_binlog_pos: String(v.gtid_binlog_pos ?? ''),
        slaves: (slaveRows as Array<Record<string, unknown>>).map(toSlave),
        ...(warning && { warning }),
      };
    } catch (err) {
      this.close();
      const e = err as { code?: string; message?: string };
      return { status: e.code && ACCESS_DENIED.has(e.code) ? 'auth_error' : 'down', error: e.message ?? String(err) };
    }
  }

  close(): void {
    this.conn?.destroy();
    this.conn = null;
  }

  private async connection(t: ProbeTarget): Promise<Connection> {
    const key = `${t.host}:${t.port}:${t.user}:${t.password}:${t.connectTimeout}`;
    if (this.conn && this.key === key) return this.conn;
    this.close();
    const conn = await mysql.createConnection({
      host: t.host,
      port: t.port,
      user: t.user,
      password: t.password,
      connectTimeout: t.connectTimeout * 1000,
      supportBigNumbers: true,
      bigNumberStrings: true,
    });
    // A dropped connection is found on the next query; keep it from crashing the process meanwhile.
    conn.on('error', () => this.close());
    this.conn = conn;
    this.key = key;
    return conn;
  }
}

/** One row of `SHOW ALL SLAVES STATUS` (the monitor's rounds and the cluster operations read it alike). */
export function toSlave(row: Record<string, unknown>): SlaveConnection {
  const num = (v: unknown) => (v === null || v === undefined || v === '' ? null : Number(v));
  return {
    connection_name: String(row.Connection_name ?? ''),
    master_host: String(row.Master_Host ?? ''),
    master_port: Number(row.Master_Port ?? 0),
    io_running: row.Slave_IO_Running === 'Yes',
    io_state: String(row.Slave_IO_Running ?? 'No'),
    sql_running: row.Slave_SQL_Running === 'Yes',
    seconds_behind_master: num(row.Seconds_Behind_Master),
    gtid_io_pos: String(row.Gtid_IO_Pos ?? ''),
    last_io_error: String(row.Last_IO_Error ?? ''),
    last_sql_error: String(row.Last_SQL_Error ?? ''),
    last_io_errno: Number(row.Last_IO_Errno ?? 0),
    last_sql_errno: Number(row.Last_SQL_Errno ?? 0),
  };
}
