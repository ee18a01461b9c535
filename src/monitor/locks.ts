/**
 * Cooperative monitoring (`cooperative_monitoring_locks`), MaxScale's algorithm with
 * MaxScale's lock names, so Weir and MaxScale instances watching the same servers
 * cooperate: the monitor that holds the server lock `maxscale_mariadbmonitor` on a
 * majority of the servers is the primary monitor; only it runs switchover, failover,
 * rejoin and automatic operations, and it holds the master lock
 * `maxscale_mariadbmonitor_master` on the server it chose as master. The others
 * (secondaries) accept a server as master only when the master lock and the server lock
 * on it belong to the same connection (the primary monitor's choice).
 *
 * The locks are MariaDB user locks (GET_LOCK), held by one dedicated, long-lived
 * connection per server (never pooled: a silent reconnect would lose them), with a
 * session wait_timeout so a hung holder's locks go when the server drops it.
 */
import mysql, { type Connection } from 'mysql2/promise';
import type { WeirLogger } from '../log/logger.ts';

export const SERVER_LOCK = 'maxscale_mariadbmonitor';
export const MASTER_LOCK = 'maxscale_mariadbmonitor_master';
export type LockMode = 'none' | 'majority_of_all' | 'majority_of_running';

export interface LockServer {
  name: string;
  host: string;
  port: number;
  /** The monitor's probe found it running this round. */
  running: boolean;
}

export interface LockSettings {
  mode: LockMode;
  user: string;
  password: string;
  /** seconds */
  connectTimeout: number;
  /** MXS-5039: ceil(monitor_interval) + 2 * max(read_timeout, write_timeout), clamped to 5..28800 s. */
  waitTimeout: number;
  failcount: number;
}

type Owner = { state: 'free' } | { state: 'self' } | { state: 'other'; id: number } | { state: 'unknown' };

interface LockConnection {
  conn: Connection | null;
  id: number;
  serverLock: Owner;
  masterLock: Owner;
  /** Connection id holding the master lock, when another connection does. */
  masterOwner: number | null;
  /** Connection id holding the server lock, when another connection does. */
  serverOwner: number | null;
}

const RETRY_BASE_TICKS = 5;
const RELEASE_BACKOFF_MS = 60_000;

export class CooperativeLocks {
  private readonly conns = new Map<string, LockConnection>();
  private primaryNow = false;
  private retryInTicks = 0;
  /** Ticks left before automatic operations may run after becoming primary. */
  private delayTicks = 0;
  private releasedUntil = 0;
  private lastNeeded = 0;
  /**
   * The lock work runs one piece at a time: a round reads who holds what, then takes
   * locks on what it read. A `release-locks` landing between the two would have the round
   * take back a lock it saw free a moment ago, and the released monitor be primary again.
   */
  private serial: Promise<unknown> = Promise.resolve();

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.serial.then(work, work);
    this.serial = run.catch(() => undefined);
    return run;
  }

  constructor(
    private readonly monitor: string,
    private readonly logger: WeirLogger,
  ) {}

  /** null without locks, else whether this monitor is the primary monitor. */
  primary(mode: LockMode): boolean | null {
    return mode === 'none' ? null : this.primaryNow;
  }

  /** Whether the server lock on `server` is held by this monitor (null when locks are off or unknown). */
  lockHeld(mode: LockMode, server: string): boolean | null {
    if (mode === 'none') return null;
    const c = this.conns.get(server);
    if (!c || c.serverLock.state === 'unknown') return null;
    return c.serverLock.state === 'self';
  }

  /** Whether automatic operations may run now (primary, and past the delay after gaining the role). */
  mayRunAutomatic(mode: LockMode): boolean {
    return mode === 'none' || (this.primaryNow && this.delayTicks === 0);
  }

  /**
   * One monitoring round's lock work: read who holds what, take free locks when a
   * majority is within reach (only when primary or when the randomized retry is due),
   * decide the primary role, and release everything when the majority is gone.
   */
  tick(s: LockSettings, servers: LockServer[]): Promise<void> {
    return this.exclusive(() => this.round(s, servers));
  }

  private async round(s: LockSettings, servers: LockServer[]): Promise<void> {
    if (s.mode === 'none') {
      if (this.conns.size) this.closeAllNow();
      this.primaryNow = false;
      return;
    }
    this.warnAboutSetup(s.mode, servers.length);
    await Promise.all(servers.map((srv) => this.readStatus(s, srv)));
    for (const name of this.conns.keys()) if (!servers.some((x) => x.name === name)) this.drop(name);

    const usable = servers.filter((x) => x.running && this.conns.get(x.name)?.conn);
    const needed =
      s.mode === 'majority_of_all' ? Math.floor(servers.length / 2) + 1 : Math.floor(usable.length / 2) + 1;
    this.lastNeeded = needed;
    const held = () => servers.filter((x) => this.conns.get(x.name)?.serverLock.state === 'self').length;
    const free = servers.filter((x) => this.conns.get(x.name)?.serverLock.state === 'free');
    if (this.retryInTicks > 0) this.retryInTicks--;
    const backoff = Date.now() < this.releasedUntil;
    if (free.length && held() + free.length >= needed && !backoff && (this.primaryNow || this.retryInTicks === 0)) {
      await Promise.all(free.map((x) => this.take(s, x.name, SERVER_LOCK)));
      if (!this.primaryNow && held() < needed) this.retryInTicks = RETRY_BASE_TICKS + Math.floor(Math.random() * 3);
    }
    const nowPrimary = held() >= needed;
    if (nowPrimary && !this.primaryNow) {
      this.delayTicks = s.failcount;
      this.logger.notice(
        { monitor: this.monitor, locks: held(), needed },
        `monitor '${this.monitor}' is now the primary monitor: it holds the lock '${SERVER_LOCK}' on ${held()} servers (${needed} needed); automatic cluster operations wait ${s.failcount} rounds`,
      );
    } else if (!nowPrimary && this.primaryNow) {
      this.logger.warning(
        { monitor: this.monitor, locks: held(), needed },
        `monitor '${this.monitor}' is no longer the primary monitor: it holds '${SERVER_LOCK}' on ${held()} servers, ${needed} needed`,
      );
    } else if (nowPrimary && this.delayTicks > 0) {
      this.delayTicks--;
    }
    this.primaryNow = nowPrimary;
    if (!nowPrimary && held() > 0) {
      const byOthers = servers.filter((x) => this.conns.get(x.name)?.serverLock.state === 'other').length;
      const down = servers.filter((x) => !x.running).length;
      this.logger.warning(
        { monitor: this.monitor, held: held(), by_others: byOthers, down, needed },
        `monitor '${this.monitor}' holds '${SERVER_LOCK}' on ${held()} servers, not a majority (${needed}; ${byOthers} held by others, ${down} down): releasing every lock`,
      );
      await this.releaseAll();
    }
  }

  /** After roles are assigned: the primary holds the master lock on its master only. */
  placeMasterLock(s: LockSettings, master: string | null): Promise<void> {
    return this.exclusive(() => this.placeMasterLockNow(s, master));
  }

  private async placeMasterLockNow(s: LockSettings, master: string | null): Promise<void> {
    if (s.mode === 'none' || !this.primaryNow) return;
    for (const [name, c] of this.conns) {
      if (name !== master && c.masterLock.state === 'self') await this.release(name, MASTER_LOCK);
    }
    if (!master) return;
    const c = this.conns.get(master);
    if (!c?.conn) return;
    if (c.masterLock.state === 'free') await this.take(s, master, MASTER_LOCK);
    else if (c.masterLock.state === 'other') {
      this.logger.error(
        { monitor: this.monitor, server: master, owner: c.masterOwner },
        `monitor '${this.monitor}': the lock '${MASTER_LOCK}' on '${master}' is held by connection ${c.masterOwner}, not this primary monitor; secondaries may pick the wrong master`,
      );
    }
  }

  /**
   * For a secondary: whether the primary monitor marked `server` as master (its master
   * lock and server lock are held by the same, other, connection).
   */
  markedAsMaster(server: string): boolean {
    const c = this.conns.get(server);
    return !!c && c.masterLock.state === 'other' && c.serverLock.state === 'other' && c.masterOwner === c.serverOwner;
  }

  /**
   * Re-checked right before each step of a cluster operation: this monitor still owns the
   * server lock on a majority (asked of the servers, not taken from the last round).
   */
  async verifyOwnership(mode: LockMode): Promise<void> {
    if (mode === 'none') return;
    let owned = 0;
    await Promise.all(
      [...this.conns.values()].map(async (c) => {
        if (!c.conn) return;
        try {
          const [rows] = await c.conn.query(`SELECT IS_USED_LOCK('${SERVER_LOCK}') = CONNECTION_ID() AS mine`);
          if (Number((rows as Array<{ mine: unknown }>)[0]?.mine) === 1) owned++;
        } catch {
          // not owned: the connection is gone
        }
      }),
    );
    if (owned < this.lastNeeded) {
      this.primaryNow = false;
      throw new Error(
        `this Weir no longer holds the lock '${SERVER_LOCK}' on a majority of servers (${owned} of ${this.lastNeeded} needed); the operation stopped before the next step`,
      );
    }
  }

  /** `release-locks`: gives the primary role away and does not take locks for a minute. */
  releaseLocks(mode: LockMode): Promise<number> {
    return this.exclusive(() => this.releaseLocksNow(mode));
  }

  private async releaseLocksNow(mode: LockMode): Promise<number> {
    if (mode === 'none') throw new Error('cooperative_monitoring_locks is none: this monitor holds no locks');
    const held = [...this.conns.values()].filter(
      (c) => c.serverLock.state === 'self' || c.masterLock.state === 'self',
    ).length;
    if (held === 0) throw new Error('this monitor holds no locks to release');
    this.primaryNow = false;
    this.releasedUntil = Date.now() + RELEASE_BACKOFF_MS;
    await this.releaseAll();
    this.logger.notice(
      { monitor: this.monitor, released: held },
      `monitor '${this.monitor}' released its locks on ${held} servers; it will not take them again for ${RELEASE_BACKOFF_MS / 1000} s`,
    );
    return held;
  }

  closeAll(): Promise<void> {
    return this.exclusive(async () => this.closeAllNow());
  }

  private closeAllNow(): void {
    for (const name of [...this.conns.keys()]) this.drop(name);
    this.primaryNow = false;
  }

  // ---- internals ----

  private warnedSetup = '';

  /** The two setups MaxScale's documentation warns about, logged once per setting. */
  private warnAboutSetup(mode: LockMode, count: number): void {
    const key = `${mode}:${count}`;
    if (this.warnedSetup === key) return;
    this.warnedSetup = key;
    if (mode === 'majority_of_all' && count === 2) {
      this.logger.warning(
        { monitor: this.monitor },
        `monitor '${this.monitor}': cooperative_monitoring_locks=majority_of_all with 2 servers needs both locks, so losing either server leaves no primary monitor (no master, no failover)`,
      );
    } else if (mode === 'majority_of_running' && count % 2 === 0) {
      this.logger.warning(
        { monitor: this.monitor },
        `monitor '${this.monitor}': cooperative_monitoring_locks=majority_of_running with an even number of servers (${count}): a network partition can give two primary monitors`,
      );
    }
  }

  private async readStatus(s: LockSettings, srv: LockServer): Promise<void> {
    let c = this.conns.get(srv.name);
    if (!c)
      this.conns.set(
        srv.name,
        (c = {
          conn: null,
          id: 0,
          serverLock: { state: 'unknown' },
          masterLock: { state: 'unknown' },
          masterOwner: null,
          serverOwner: null,
        }),
      );
    const before = c.serverLock.state;
    if (!srv.running) {
      this.drop(srv.name, true);
      return;
    }
    try {
      if (!c.conn) {
        const conn = await mysql.createConnection({
          host: srv.host,
          port: srv.port,
          user: s.user,
          password: s.password,
          connectTimeout: s.connectTimeout * 1000,
          enableKeepAlive: true,
          multipleStatements: false,
        });
        conn.on('error', () => this.drop(srv.name, true));
        await conn.query(`SET SESSION wait_timeout = ${s.waitTimeout}`);
        const [[row]] = (await conn.query('SELECT CONNECTION_ID() AS id')) as unknown as [[{ id: number }]];
        c.conn = conn;
        c.id = Number(row.id);
      }
      const [rows] = await c.conn.query(
        `SELECT IS_USED_LOCK('${SERVER_LOCK}') AS s, IS_USED_LOCK('${MASTER_LOCK}') AS m`,
      );
      const r = (rows as Array<{ s: unknown; m: unknown }>)[0]!;
      c.serverLock = owner(r.s, c.id);
      c.masterLock = owner(r.m, c.id);
      c.serverOwner = c.serverLock.state === 'other' ? c.serverLock.id : null;
      c.masterOwner = c.masterLock.state === 'other' ? c.masterLock.id : null;
      if (before === 'self' && c.serverLock.state !== 'self') {
        this.logger.warning(
          { monitor: this.monitor, server: srv.name },
          `monitor '${this.monitor}': lost the lock '${SERVER_LOCK}' on '${srv.name}' without releasing it`,
        );
      }
    } catch {
      this.drop(srv.name, true);
    }
  }

  private async take(s: LockSettings, server: string, lock: string): Promise<void> {
    const c = this.conns.get(server);
    if (!c?.conn) return;
    try {
      // The session timeout is set with the lock, so it holds even if the session was reset.
      await c.conn.query(`SET SESSION wait_timeout = ${s.waitTimeout}`);
      // MariaDB user locks are recursive: a second GET_LOCK on the holding connection would
      // need a second RELEASE_LOCK, and release-locks would leave the lock held.
      const [rows] = await c.conn.query(
        `SELECT IF(IS_USED_LOCK('${lock}') = CONNECTION_ID(), 1, GET_LOCK('${lock}', 0)) AS got`,
      );
      if (Number((rows as Array<{ got: unknown }>)[0]?.got) === 1) {
        if (lock === SERVER_LOCK) c.serverLock = { state: 'self' };
        else c.masterLock = { state: 'self' };
      }
    } catch {
      this.drop(server, true);
    }
  }

  private async release(server: string, lock: string): Promise<void> {
    const c = this.conns.get(server);
    if (!c?.conn) return;
    try {
      await c.conn.query(`SELECT RELEASE_LOCK('${lock}')`);
      if (lock === SERVER_LOCK) c.serverLock = { state: 'free' };
      else c.masterLock = { state: 'free' };
    } catch {
      this.drop(server, true);
    }
  }

  private async releaseAll(): Promise<void> {
    for (const [name, c] of this.conns) {
      if (c.masterLock.state === 'self') await this.release(name, MASTER_LOCK);
      if (c.serverLock.state === 'self') await this.release(name, SERVER_LOCK);
    }
  }

  /** Closing the connection frees its locks on the server. */
  private drop(server: string, keepEntry = false): void {
    const c = this.conns.get(server);
    c?.conn?.destroy();
    if (keepEntry && c) {
      c.conn = null;
      c.serverLock = { state: 'unknown' };
      c.masterLock = { state: 'unknown' };
      c.masterOwner = null;
      c.serverOwner = null;
    } else this.conns.delete(server);
  }
}

function owner(v: unknown, self: number): Owner {
  if (v === null || v === undefined) return { state: 'free' };
  const id = Number(v);
  return id === self ? { state: 'self' } : { state: 'other', id };
}

/** MXS-5039's session timeout for lock connections, in seconds. */
export function lockWaitTimeout(monitorIntervalMs: number, readTimeoutS: number, writeTimeoutS: number): number {
  const t = Math.ceil(monitorIntervalMs / 1000) + 2 * Math.max(readTimeoutS, writeTimeoutS);
  return Math.min(28_800, Math.max(5, t));
}
