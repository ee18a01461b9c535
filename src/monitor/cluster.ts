/**
 * mariadbmon's cluster operations: switchover, failover and rejoin, run with the same SQL
 * MaxScale's mariadbmon uses (`SET GLOBAL read_only`, `MASTER_GTID_WAIT`, `STOP/RESET SLAVE`,
 * `CHANGE MASTER ... MASTER_USE_GTID=slave_pos`, `START SLAVE`).
 *
 * Every operation first reads the servers it touches afresh (a monitoring round may be up
 * to one interval old) and refuses, with the reason and before changing anything, when it
 * would lose transactions or the topology does not allow it. A step that fails after the
 * first change is undone where that is possible, and the error says what state was left.
 */
import mysql, { type Connection } from 'mysql2/promise';
import { unprocessable, WeirError } from '../core/errors.ts';
import { aheadDomains, compareGtid, parseGtid } from './gtid.ts';
import { sameName } from '../core/objects.ts';
import { toSlave, type SlaveConnection } from './probe.ts';
import { sameHost } from './topology.ts';

export interface Member {
  name: string;
  address: string;
  port: number;
  /** Administrative states that keep a server from being promoted. */
  maintenance: boolean;
  draining: boolean;
  /** Listed in the monitor's `servers_no_promotion`. */
  noPromotion: boolean;
}

export interface OperationSettings {
  user: string;
  password: string;
  replicationUser: string;
  replicationPassword: string;
  /** seconds */
  connectTimeout: number;
  /** seconds: how long the whole operation may wait for replicas to catch up. */
  timeout: number;
  /** Checked right before every step that changes a server (cooperative monitoring: still the lock holder?). */
  guard?: () => Promise<void>;
}

export interface OperationResult {
  operation: 'switchover' | 'failover' | 'rejoin';
  primary: string;
  previous_primary: string | null;
  /** What was done, in order, in words an operator can check against the servers' logs. */
  steps: string[];
  duration_ms: number;
}

interface Status {
  readOnly: boolean;
  logBin: boolean;
  currentPos: string;
  binlogPos: string;
  replication: SlaveConnection[];
}

/** A connection to one server for the length of one operation. */
class Node {
  private constructor(
    readonly member: Member,
    private readonly conn: Connection,
  ) {}

  static async open(member: Member, s: OperationSettings): Promise<Node> {
    try {
      const conn = await mysql.createConnection({
        host: member.address,
        port: member.port,
        user: s.user,
        password: s.password,
        connectTimeout: s.connectTimeout * 1000,
        supportBigNumbers: true,
        bigNumberStrings: true,
      });
      conn.on('error', () => undefined);
      return new Node(member, conn);
    } catch (err) {
      throw unprocessable(
        `Cannot connect to server '${member.name}' (${member.address}:${member.port}): ${(err as Error).message}`,
      );
    }
  }

  get name(): string {
    return this.member.name;
  }

  async query(sql: string, timeoutMs?: number): Promise<Array<Record<string, unknown>>> {
    const [rows] = await this.conn.query({ sql, ...(timeoutMs !== undefined && { timeout: timeoutMs }) });
    return Array.isArray(rows) ? (rows as Array<Record<string, unknown>>) : [];
  }

  async status(): Promise<Status> {
    const [v] = await this.query(
      'SELECT @@global.read_only AS ro, @@global.log_bin AS log_bin, ' +
        '@@global.gtid_current_pos AS cur, @@global.gtid_binlog_pos AS bin',
    );
    const slaves = await this.query('SHOW ALL SLAVES STATUS');
    return {
      readOnly: Number(v!.ro) === 1,
      logBin: Number(v!.log_bin) === 1,
      currentPos: String(v!.cur ?? ''),
      binlogPos: String(v!.bin ?? ''),
      replication: slaves.map(toSlave),
    };
  }

  /** The replication connection of this server that points at `m`, if any. */
  async linkTo(m: Member): Promise<SlaveConnection | undefined> {
    return replicationTo(await this.status(), m);
  }

  close(): void {
    this.conn.destroy();
  }
}

export class ClusterOperations {
  private readonly steps: string[] = [];
  private readonly nodes = new Map<string, Node>();
  private readonly started = Date.now();

  constructor(
    private readonly members: Member[],
    private readonly settings: OperationSettings,
  ) {}

  /**
   * Makes `newName` (or the most up-to-date replica) the primary in place of the running
   * primary `primaryName`: the old primary turns read-only, the new one waits until it has
   * applied every transaction the old one wrote, is promoted, and the old primary and the
   * other replicas replicate from it.
   */
  async switchover(primaryName: string | null, newName?: string, oldName?: string): Promise<OperationResult> {
    try {
      if (!primaryName) throw unprocessable('There is no primary to switch over from; if it is down, use failover.');
      if (oldName && !sameName(oldName, primaryName)) {
        throw unprocessable(`'${oldName}' is not the primary: the primary is '${primaryName}'.`);
      }
      const oldPrimary = this.member(primaryName);
      if (newName && sameName(newName, primaryName)) {
        return this.done(
          'switchover',
          oldPrimary.name,
          oldPrimary.name,
          `'${oldPrimary.name}' is already the primary; nothing was changed`,
        );
      }
      const old = await this.node(oldPrimary);
      const replicas = await this.replicasOf(oldPrimary, [oldPrimary.name]);
      const promotable = replicas.filter((r) => this.promotable(r.node.member, r.status) === null);
      let chosen: (typeof replicas)[number] | undefined;
      if (newName) {
        const target = this.member(newName);
        chosen = replicas.find((r) => r.node.name === target.name);
        if (!chosen)
          throw unprocessable(
            `'${target.name}' does not replicate from the primary '${oldPrimary.name}' (or is not reachable), so it cannot take over from it.`,
          );
        const reason = this.promotable(target, chosen.status);
        if (reason) throw unprocessable(`'${target.name}' cannot be promoted: ${reason}.`);
      } else {
        chosen = promotable.sort((a, b) =>
          compareGtid(parseGtid(b.status.currentPos), parseGtid(a.status.currentPos)),
        )[0];
        if (!chosen)
          throw unprocessable(
            `No replica of '${oldPrimary.name}' can be promoted (each must be running, replicating, not in maintenance or draining, and write a binary log).`,
          );
      }
      const candidate = chosen.node;

      // From here on the cluster changes: the old primary stops taking writes.
      await this.run(old, 'SET GLOBAL read_only=1');
      try {
        const [{ pos }] = (await old.query('SELECT @@global.gtid_binlog_pos AS pos')) as [{ pos: string }];
        this.steps.push(`'${old.name}' has written up to GTID ${pos || '(none)'}`);
        await this.waitFor(candidate, pos);
        await this.promote(candidate, chosen.link.connection_name);
      } catch (err) {
        // Not promoted: the old primary takes writes again, so nothing is left half done.
        await this.run(old, 'SET GLOBAL read_only=0').catch(() => undefined);
        throw this.failed('switchover', err, `'${old.name}' is the primary again`);
      }
      await this.replicateFrom(old, candidate.member, { fromCurrentPosition: true });
      for (const r of replicas) if (r !== chosen) await this.redirect(r.node, r.link.connection_name, candidate.member);
      return this.done('switchover', candidate.name, old.name);
    } finally {
      this.close();
    }
  }

  /**
   * Promotes the most up-to-date replica of the primary `deadName`, which is down: it
   * first applies everything it has received, then the other replicas follow it.
   */
  async failover(deadName: string): Promise<OperationResult> {
    try {
      const dead = this.member(deadName);
      const replicas = await this.replicasOf(dead, [dead.name]);
      const promotable = replicas.filter((r) => this.promotable(r.node.member, r.status, true) === null);
      // Most received events first; servers order breaks ties.
      promotable.sort((a, b) =>
        compareGtid(
          parseGtid(b.link.gtid_io_pos || b.status.currentPos),
          parseGtid(a.link.gtid_io_pos || a.status.currentPos),
        ),
      );
      const chosen = promotable[0];
      if (!chosen)
        throw unprocessable(
          `No replica of '${dead.name}' can be promoted (each must be running, not in maintenance or draining, and write a binary log).`,
        );
      const candidate = chosen.node;
      const received = chosen.link.gtid_io_pos || chosen.status.currentPos;
      try {
        this.steps.push(
          `'${candidate.name}' is the most up-to-date replica (received up to GTID ${received || '(none)'})`,
        );
        await pauseForTests('WEIR_TEST_PAUSE_BEFORE_PROMOTE');
        await this.waitFor(candidate, received);
        await this.promote(candidate, chosen.link.connection_name);
      } catch (err) {
        throw this.failed('failover', err, 'no server was promoted');
      }
      for (const r of replicas) if (r !== chosen) await this.redirect(r.node, r.link.connection_name, candidate.member);
      return this.done('failover', candidate.name, dead.name);
    } finally {
      this.close();
    }
  }

  /**
   * Points `name` (a returned old primary, or a server replicating from elsewhere) at the
   * primary, after checking it has no transaction the primary lacks; then checks that
   * replication really runs, and undoes the change when the primary refuses it.
   */
  async rejoin(primaryName: string | null, name: string): Promise<OperationResult> {
    try {
      if (!primaryName) throw unprocessable('There is no running primary to rejoin to.');
      const server = this.member(name);
      const primary = this.member(primaryName);
      if (server.name === primary.name)
        throw unprocessable(`'${server.name}' is the primary; only another server can rejoin it.`);
      if (server.maintenance) throw unprocessable(`'${server.name}' is in maintenance; clear maintenance first.`);
      const node = await this.node(server);
      const status = await node.status();
      const existing = replicationTo(status, primary);
      if (existing && existing.io_state === 'Yes' && existing.sql_running) {
        return this.done(
          'rejoin',
          primary.name,
          primary.name,
          `'${server.name}' already replicates from '${primary.name}'; nothing was changed`,
        );
      }
      const primaryNode = await this.node(primary);
      const primaryStatus = await primaryNode.status();
      const ahead = aheadDomains(parseGtid(status.currentPos), parseGtid(primaryStatus.binlogPos));
      if (ahead.length > 0) {
        throw unprocessable(
          `'${server.name}' has transactions the primary '${primary.name}' does not (GTID ${status.currentPos} against ${primaryStatus.binlogPos || '(none)'} in domain ${ahead.join(', ')}); rejoining would lose them. Reconcile the servers by hand.`,
        );
      }
      const wasReadOnly = status.readOnly;
      for (const r of status.replication) {
        await this.run(node, `STOP SLAVE${connName(r.connection_name)}`);
        await this.run(node, `RESET SLAVE${connName(r.connection_name)} ALL`);
      }
      await this.replicateFrom(node, primary, { fromCurrentPosition: true });
      const problem = await this.replicationProblem(node, primary);
      if (problem) {
        await node.query('STOP SLAVE').catch(() => undefined);
        await node.query('RESET SLAVE ALL').catch(() => undefined);
        if (!wasReadOnly) await node.query('SET GLOBAL read_only=0').catch(() => undefined);
        throw unprocessable(
          `'${server.name}' cannot replicate from '${primary.name}': ${problem}. Its replication was removed again${wasReadOnly ? '' : ' and it is writable as before'}.`,
        );
      }
      return this.done('rejoin', primary.name, primary.name);
    } finally {
      this.close();
    }
  }

  // ---- steps ----

  private member(name: string): Member {
    const m = this.members.find((x) => sameName(x.name, name));
    if (!m) throw unprocessable(`'${name}' is not a server of this monitor.`);
    return m;
  }

  private async node(m: Member): Promise<Node> {
    let node = this.nodes.get(m.name);
    if (!node) this.nodes.set(m.name, (node = await Node.open(m, this.settings)));
    return node;
  }

  /** The servers that have a replication connection to `primary` and answer now. */
  private async replicasOf(
    primary: Member,
    exclude: string[],
  ): Promise<Array<{ node: Node; status: Status; link: SlaveConnection }>> {
    const found: Array<{ node: Node; status: Status; link: SlaveConnection }> = [];
    for (const m of this.members) {
      if (exclude.includes(m.name)) continue;
      let node: Node;
      try {
        node = await this.node(m);
      } catch {
        continue; // down: not a candidate, and cannot be redirected now (rejoin it later)
      }
      const status = await node.status();
      const link = replicationTo(status, primary);
      if (link) found.push({ node, status, link });
    }
    return found;
  }

  /** Why a replica cannot be promoted, or null when it can. */
  private promotable(m: Member, status: Status, primaryIsDown = false): string | null {
    if (m.noPromotion) return 'it is listed in servers_no_promotion';
    if (m.maintenance) return 'it is in maintenance';
    if (m.draining) return 'it is draining';
    if (!status.logBin) return 'it does not write a binary log, so no replica could follow it';
    const link = status.replication[0];
    if (!primaryIsDown && link && (link.io_state !== 'Yes' || !link.sql_running))
      return 'its replication is not running';
    if (link && link.last_sql_errno !== 0) return `its replication failed: ${link.last_sql_error}`;
    return null;
  }

  private async waitFor(node: Node, pos: string): Promise<void> {
    if (!pos) return;
    const timeout = this.settings.timeout;
    const started = Date.now();
    const [{ r }] = (await node.query(
      `SELECT MASTER_GTID_WAIT(${mysql.escape(pos)}, ${timeout}) AS r`,
      (timeout + 5) * 1000,
    )) as [{ r: unknown }];
    if (Number(r) !== 0) throw new Error(`'${node.name}' did not reach GTID ${pos} within ${timeout} s`);
    this.steps.push(`'${node.name}' applied every transaction up to GTID ${pos} (waited ${Date.now() - started} ms)`);
  }

  private async promote(node: Node, connection: string): Promise<void> {
    await this.run(node, `STOP SLAVE${connName(connection)}`);
    await this.run(node, `RESET SLAVE${connName(connection)} ALL`);
    await this.run(node, 'SET GLOBAL read_only=0');
  }

  /** A server without replication of its own starts replicating from `primary`. */
  private async replicateFrom(node: Node, primary: Member, opts: { fromCurrentPosition: boolean }): Promise<void> {
    if (opts.fromCurrentPosition) {
      // Its own writes are its replication position: continue after them.
      const [{ cur }] = (await node.query('SELECT @@global.gtid_current_pos AS cur')) as [{ cur: string }];
      await this.run(node, `SET GLOBAL gtid_slave_pos = ${mysql.escape(cur)}`);
    }
    await this.run(node, 'SET GLOBAL read_only=1');
    await this.run(
      node,
      this.changeMaster('', primary),
      `CHANGE MASTER TO '${primary.name}' (${primary.address}:${primary.port}), MASTER_USE_GTID=slave_pos`,
    );
    await this.run(node, 'START SLAVE');
  }

  /** A replica of the old primary replicates from the new one, from where it is. */
  private async redirect(node: Node, connection: string, primary: Member): Promise<void> {
    await this.run(node, `STOP SLAVE${connName(connection)}`);
    await this.run(
      node,
      this.changeMaster(connection, primary),
      `CHANGE MASTER${connName(connection)} TO '${primary.name}' (${primary.address}:${primary.port}), MASTER_USE_GTID=slave_pos`,
    );
    await this.run(node, `START SLAVE${connName(connection)}`);
  }

  private changeMaster(connection: string, primary: Member): string {
    const s = this.settings;
    return (
      `CHANGE MASTER${connName(connection)} TO MASTER_HOST=${mysql.escape(primary.address)}, MASTER_PORT=${primary.port}, ` +
      `MASTER_USER=${mysql.escape(s.replicationUser)}, MASTER_PASSWORD=${mysql.escape(s.replicationPassword)}, MASTER_USE_GTID=slave_pos`
    );
  }

  /** Waits until replication runs or reports an error; returns the error, or null. */
  private async replicationProblem(node: Node, primary: Member): Promise<string | null> {
    const deadline = Date.now() + this.settings.timeout * 1000;
    for (;;) {
      const link = await node.linkTo(primary);
      if (!link) return 'its replication connection disappeared';
      if (link.last_io_errno !== 0) return link.last_io_error;
      if (link.last_sql_errno !== 0) return link.last_sql_error;
      if (link.io_state === 'Yes' && link.sql_running) return null;
      if (Date.now() > deadline)
        return `replication did not start within ${this.settings.timeout} s (IO thread: ${link.io_state})`;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private async run(node: Node, sql: string, shown = sql): Promise<void> {
    await this.settings.guard?.();
    await node.query(sql);
    this.steps.push(`${node.name}: ${shown}`);
  }

  private failed(operation: string, err: unknown, leftAs: string): WeirError {
    if (err instanceof WeirError) return err;
    return new WeirError(
      503,
      `The ${operation} did not complete: ${(err as Error).message}; ${leftAs}. Steps done: ${this.steps.join('; ') || 'none'}.`,
    );
  }

  private done(
    operation: OperationResult['operation'],
    primary: string,
    previous: string | null,
    note?: string,
  ): OperationResult {
    if (note) this.steps.push(note);
    return {
      operation,
      primary,
      previous_primary: previous,
      steps: [...this.steps],
      duration_ms: Date.now() - this.started,
    };
  }

  private close(): void {
    for (const n of this.nodes.values()) n.close();
    this.nodes.clear();
  }
}

/** ` 'name'` for a named replication connection, nothing for the default one. */
function connName(name: string): string {
  return name === '' ? '' : ` ${mysql.escape(name)}`;
}

/** The server's replication connection to `m`, if it has one. */
function replicationTo(status: Status, m: Member): SlaveConnection | undefined {
  return status.replication.find((r) => r.master_port === m.port && sameHost(r.master_host, m.address));
}

/** Test hook: widens the window between choosing a candidate and promoting it (unset in production). */
async function pauseForTests(name: string): Promise<void> {
  const ms = Number(process.env[name] ?? 0);
  if (ms > 0) await new Promise((r) => setTimeout(r, ms));
}
