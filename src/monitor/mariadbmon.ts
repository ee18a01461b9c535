/**
 * The mariadbmon monitor: every `monitor_interval` it probes each of its servers (in
 * parallel, one connection each), assigns roles, records each server's facts and state,
 * and logs every state change as an event. Runs while the monitor's state is `running`;
 * follows changes to the monitor (interval, servers, credentials) from the next round.
 */
import type { Core } from '../core/core.ts';
import { conflict, unprocessable, WeirError } from '../core/errors.ts';
import { noFacts, stringList, type ConfigObject } from '../core/objects.ts';
import type { WeirLogger } from '../log/logger.ts';
import { ClusterOperations, type Member, type OperationResult } from './cluster.ts';
import { ServerProbe } from './probe.ts';
import { CooperativeLocks, lockWaitTimeout, type LockMode, type LockSettings } from './locks.ts';
import { assignRoles, stateEvent, type Observed } from './topology.ts';

export class MariaDBMonitor {
  private timer: NodeJS.Timeout | null = null;
  private readonly probes = new Map<string, ServerProbe>();
  private primary: string | null = null;
  private running = false;
  private tickInFlight: Promise<void> | null = null;
  /** Resolvers waiting for the next completed round (tests, `monitor_wait`-style callers). */
  private waiters: Array<() => void> = [];
  /** Servers already warned about missing privileges (once each, not every round). */
  private readonly warned = new Set<string>();
  /** The cluster operation running now; monitoring rounds wait while it runs. */
  private operation: string | null = null;
  /** The last primary seen running: what failover replaces and rejoin points servers at. */
  private knownPrimary: string | null = null;
  /** Consecutive rounds the known primary has been down (for `failcount`). */
  private primaryDownRounds = 0;
  /** An automatic failover failed for this outage: not retried every round, logged once. */
  private autoFailoverGaveUp = false;
  /** Servers auto_rejoin was refused for, with the GTID position it was refused at. */
  private readonly rejoinRefused = new Map<string, string>();
  /** Cooperative monitoring with other Weirs and MaxScales (`cooperative_monitoring_locks`). */
  readonly locks: CooperativeLocks;

  constructor(
    private readonly core: Core,
    private readonly obj: ConfigObject,
    private readonly logger: WeirLogger,
  ) {
    this.locks = new CooperativeLocks(obj.name, logger);
  }

  get lockMode(): LockMode {
    return (this.obj.params.cooperative_monitoring_locks ?? 'none') as LockMode;
  }

  private lockSettings(): LockSettings {
    const p = this.obj.params;
    return {
      mode: this.lockMode,
      user: String(p.user),
      password: String(p.password ?? ''),
      connectTimeout: Number(p.connect_timeout),
      waitTimeout: lockWaitTimeout(Number(p.monitor_interval), Number(p.read_timeout), Number(p.write_timeout)),
      failcount: Number(p.failcount),
    };
  }

  get name(): string {
    return this.obj.name;
  }

  /** Starts or stops polling to match the monitor's configured state. */
  sync(): void {
    const shouldRun = this.obj.params.state === 'running';
    if (shouldRun && !this.running) this.start();
    else if (!shouldRun && this.running) this.stopInBackground();
    // A new interval applies from now, not after the old one has run out.
    else if (shouldRun && !this.tickInFlight) this.schedule(Number(this.obj.params.monitor_interval));
    // Servers that left the monitor are no longer known to it.
    for (const [name, probe] of this.probes) {
      if (!this.servers().some((s) => s.name.toLowerCase() === name)) {
        probe.close();
        this.probes.delete(name);
        const server = this.core.find('server', name);
        if (server) this.forget(server);
      }
    }
  }

  start(): void {
    this.running = true;
    this.logger.notice({ monitor: this.name }, `monitor '${this.name}' started`);
    this.schedule(0);
  }

  /** Stops without a caller to wait for it; a failure is logged, never left unhandled. */
  stopInBackground(): void {
    this.stop().catch((err: Error) =>
      this.logger.error(
        { monitor: this.name, err: err.stack },
        `monitor '${this.name}' did not stop cleanly: ${err.message}`,
      ),
    );
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.tickInFlight;
    for (const p of this.probes.values()) p.close();
    this.probes.clear();
    await this.locks.closeAll();
    for (const server of this.servers()) this.forget(server);
    this.primary = null;
    this.knownPrimary = null;
    this.primaryDownRounds = 0;
    this.logger.notice({ monitor: this.name }, `monitor '${this.name}' stopped`);
  }

  /** Resolves once a round that started after this call has completed. */
  nextTick(): Promise<void> {
    let rounds = this.tickInFlight ? 2 : 1;
    return new Promise((resolve) => {
      const waiter = () => {
        if (--rounds === 0) resolve();
        else this.waiters.push(waiter);
      };
      this.waiters.push(waiter);
    });
  }

  private servers(): ConfigObject[] {
    return stringList(this.obj.params.servers!)
      .map((n) => this.core.find('server', n))
      .filter((s): s is ConfigObject => !!s);
  }

  private schedule(delay: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      // A cluster operation changes the servers under the monitor's feet; it runs a round itself when done.
      if (this.operation) return this.schedule(Number(this.obj.params.monitor_interval));
      this.runRound();
    }, delay);
    this.timer.unref();
  }

  /** One round now; the next is scheduled one interval after it ends. */
  private runRound(): void {
    // Nobody awaits a round: one that fails is logged, and the next is scheduled all the same.
    const round = this.tick().catch((err: Error) =>
      this.logger.error(
        { monitor: this.name, err: err.stack },
        `monitor '${this.name}': the round failed: ${err.message}`,
      ),
    );
    this.tickInFlight = round.finally(() => {
      this.tickInFlight = null;
      if (this.running) this.schedule(Number(this.obj.params.monitor_interval));
    });
  }

  private async tick(): Promise<void> {
    const servers = this.servers();
    const p = this.obj.params;
    const observed: Observed[] = await Promise.all(
      servers.map(async (s) => {
        let probe = this.probes.get(s.name.toLowerCase());
        if (!probe) this.probes.set(s.name.toLowerCase(), (probe = new ServerProbe()));
        const result = await probe.probe({
          host: String(s.params.address),
          port: Number(s.params.port),
          user: String(p.user),
          password: String(p.password ?? ''),
          connectTimeout: Number(p.connect_timeout),
          readTimeout: Number(p.read_timeout),
        });
        if (result.status === 'up' && result.warning && !this.warned.has(s.name)) {
          this.warned.add(s.name);
          this.logger.warning(
            { monitor: this.name, server: s.name },
            `monitor '${this.name}', server '${s.name}': ${result.warning}`,
          );
        }
        return { name: s.name, address: String(s.params.address), port: Number(s.params.port), result };
      }),
    );
    if (!this.running) return;
    const locking = this.lockSettings();
    await this.locks.tick(
      locking,
      observed.map((o) => ({ name: o.name, host: o.address, port: o.port, running: o.result.status !== 'down' })),
    );
    if (!this.running) return;
    const { primary, roles } = this.rolesWithLocks(observed, locking.mode);
    await this.locks.placeMasterLock(locking, primary);
    if (primary !== this.primary && this.primary !== null) {
      this.logger.warning(
        { monitor: this.name, old: this.primary, new: primary },
        `monitor '${this.name}': the primary changed from ${this.primary} to ${primary ?? 'none'}`,
      );
    }
    this.primary = primary;
    if (primary) this.knownPrimary = primary;
    for (const o of observed) {
      const server = servers.find((s) => s.name === o.name)!;
      const role = roles.get(o.name)!;
      const facts = server.runtime.facts;
      const before = facts.flags;
      const r = o.result;
      const next = {
        flags: role.flags,
        server_id: r.status === 'up' ? r.server_id : facts.server_id,
        read_only: r.status === 'up' ? r.read_only : facts.read_only,
        version_string: r.status === 'up' ? r.version : facts.version_string,
        gtid_current_pos: r.status === 'up' ? r.gtid_current_pos : facts.gtid_current_pos,
        gtid_binlog_pos: r.status === 'up' ? r.gtid_binlog_pos : facts.gtid_binlog_pos,
        replication_lag: role.lag,
        replicates_from: role.replicatesFrom,
      };
      const event = stateEvent(before, role.flags);
      const changed =
        event !== null ||
        JSON.stringify({ ...facts, last_event: null, triggered_at: null, ...next }) !==
          JSON.stringify({ ...facts, last_event: null, triggered_at: null });
      Object.assign(facts, next);
      if (event) {
        facts.last_event = event;
        facts.triggered_at = new Date();
        const detail = r.status === 'up' ? undefined : r.error;
        this.logger.notice(
          { monitor: this.name, server: o.name, event, from: before, to: role.flags, error: detail },
          `Server changed state: ${o.name}[${o.address}:${o.port}]: ${event}. [${before.join(', ')}] -> [${role.flags.join(', ')}]`,
        );
      }
      if (changed) this.core.touch(server);
    }
    this.obj.runtime.ticks++;
    this.core.touch(this.obj);
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) w();
    this.automaticOperations(
      observed.map((o) => ({
        name: o.name,
        flags: roles.get(o.name)!.flags,
        replicatesFrom: roles.get(o.name)!.replicatesFrom,
        gtid: o.result.status === 'up' ? o.result.gtid_current_pos : '',
      })),
    );
  }

  /**
   * Roles as assignRoles gives them; a secondary monitor (locks on, not primary) accepts
   * only the master the primary monitor marked with its master lock, or none.
   */
  private rolesWithLocks(observed: Observed[], mode: LockMode): ReturnType<typeof assignRoles> {
    if (mode === 'none' || this.locks.primary(mode)) return assignRoles(observed, this.primary);
    const marked = observed.find((o) => this.locks.markedAsMaster(o.name))?.name ?? null;
    const result = assignRoles(observed, marked);
    if (result.primary !== null && result.primary === marked) return result;
    for (const role of result.roles.values()) role.flags = role.flags.filter((f) => f !== 'master');
    return { primary: null, roles: result.roles };
  }

  // ---- cluster operations ----

  /** `POST /monitors/{name}/switchover`: see ClusterOperations.switchover. */
  switchover(newPrimary?: string, oldPrimary?: string): Promise<OperationResult> {
    return this.runOperation(
      'switchover',
      (ops) => ops.switchover(this.primary, newPrimary, oldPrimary),
      Number(this.obj.params.switchover_timeout),
    );
  }

  /** `POST /monitors/{name}/release-locks`: hands the primary-monitor role over; the number of servers released. */
  async releaseLocks(): Promise<number> {
    try {
      return await this.locks.releaseLocks(this.lockMode);
    } catch (err) {
      throw unprocessable(`Monitor '${this.name}': ${(err as Error).message}.`);
    }
  }

  /** `POST /monitors/{name}/failover`: only when the primary is down. */
  failover(): Promise<OperationResult> {
    return this.runOperation(
      'failover',
      (ops) => {
        const known = this.knownPrimary ? this.core.find('server', this.knownPrimary) : undefined;
        if (this.primary) {
          throw unprocessable(
            `The primary '${this.primary}' is running; failover replaces a primary that is down (use switchover to move the primary).`,
          );
        }
        if (!known)
          throw unprocessable('No primary has been seen by this monitor, so there is nothing to fail over from.');
        if (!known.runtime.facts.flags.includes('down')) {
          throw unprocessable(
            `The last primary '${known.name}' is not down (${known.runtime.facts.flags.join(', ') || 'state unknown'}); failover only replaces a primary that is down.`,
          );
        }
        return ops.failover(known.name);
      },
      Number(this.obj.params.failover_timeout),
    );
  }

  /** `POST /monitors/{name}/rejoin`: points `server` at the current primary. */
  rejoin(server: string): Promise<OperationResult> {
    return this.runOperation(
      'rejoin',
      (ops) => ops.rejoin(this.primary, server),
      Number(this.obj.params.failover_timeout),
    );
  }

  private async runOperation(
    name: string,
    body: (ops: ClusterOperations) => Promise<OperationResult>,
    timeout: number,
  ): Promise<OperationResult> {
    if (!this.running) throw unprocessable(`Monitor '${this.name}' is stopped; start it before a ${name}.`);
    if (this.locks.primary(this.lockMode) === false) {
      throw conflict(
        `Cannot perform cluster operation because this Weir does not have exclusive locks on a majority of servers. Run "SELECT IS_USED_LOCK('maxscale_mariadbmonitor');" on the servers to find out which connection id has a lock.`,
      );
    }
    if (this.operation)
      throw conflict(`Monitor '${this.name}' is already running a ${this.operation}; try again when it has finished.`);
    this.operation = name;
    try {
      await this.tickInFlight;
      const p = this.obj.params;
      const noPromotion = stringList(p.servers_no_promotion ?? []).map((n) => n.toLowerCase());
      const members: Member[] = this.servers().map((s) => {
        const admin = stringList(s.params.state!);
        return {
          name: s.name,
          address: String(s.params.address),
          port: Number(s.params.port),
          maintenance: admin.includes('maintenance'),
          draining: admin.includes('draining'),
          noPromotion: noPromotion.includes(s.name.toLowerCase()),
        };
      });
      const ops = new ClusterOperations(members, {
        user: String(p.user),
        password: String(p.password ?? ''),
        replicationUser: String(p.replication_user ?? p.user),
        replicationPassword: String(p.replication_password ?? p.password ?? ''),
        connectTimeout: Number(p.connect_timeout),
        timeout,
        guard: () => this.locks.verifyOwnership(this.lockMode),
      });
      this.logger.notice({ monitor: this.name, operation: name }, `monitor '${this.name}': ${name} started`);
      let result: OperationResult;
      const startedAt = performance.now();
      const outcome = (result: 'success' | 'refused' | 'error') =>
        this.core.emit('clusterOperation', {
          monitor: this.name,
          operation: name,
          result,
          seconds: (performance.now() - startedAt) / 1000,
        });
      try {
        result = await body(ops);
        outcome('success');
      } catch (err) {
        outcome(err instanceof WeirError && err.status < 500 ? 'refused' : 'error');
        this.logger.error(
          { monitor: this.name, operation: name, err: (err as Error).message },
          `monitor '${this.name}': ${name} failed: ${(err as Error).message}`,
        );
        throw err;
      }
      this.logger.notice(
        {
          monitor: this.name,
          operation: name,
          primary: result.primary,
          steps: result.steps,
          duration_ms: result.duration_ms,
        },
        `monitor '${this.name}': ${name} done in ${result.duration_ms} ms, primary is '${result.primary}'`,
      );
      this.primary = result.primary;
      this.knownPrimary = result.primary;
      this.primaryDownRounds = 0;
      this.autoFailoverGaveUp = false;
      return result;
    } finally {
      this.operation = null;
      // The answer reflects the new topology: one round before replying.
      if (this.running && !this.tickInFlight) {
        if (this.timer) clearTimeout(this.timer);
        this.timer = null;
        this.runRound();
      }
      await this.tickInFlight;
    }
  }

  /** auto_failover and auto_rejoin, decided on one round's results. */
  private automaticOperations(
    servers: Array<{ name: string; flags: string[]; replicatesFrom: string | null; gtid: string }>,
  ): void {
    if (this.operation || !this.running) return;
    // A secondary monitor reports the cluster and keeps routing; only the primary monitor acts.
    if (!this.locks.mayRunAutomatic(this.lockMode)) return;
    const p = this.obj.params;
    const known = servers.find((s) => s.name === this.knownPrimary);
    if (known?.flags.includes('down') && !this.primary) this.primaryDownRounds++;
    else {
      this.primaryDownRounds = 0;
      this.autoFailoverGaveUp = false;
    }
    if (p.auto_failover === true && !this.autoFailoverGaveUp && this.primaryDownRounds >= Number(p.failcount)) {
      this.logger.warning(
        { monitor: this.name, primary: this.knownPrimary, rounds: this.primaryDownRounds },
        `monitor '${this.name}': primary '${this.knownPrimary}' has been down for ${this.primaryDownRounds} rounds: failing over`,
      );
      this.failover().catch(() => {
        // runOperation logged why; wait for the cluster to change before trying again.
        this.autoFailoverGaveUp = true;
      });
      return;
    }
    if (p.auto_rejoin !== true || !this.primary) return;
    for (const s of servers) {
      const admin = stringList(this.core.find('server', s.name)?.params.state ?? []);
      const standalone =
        s.flags.includes('running') &&
        !s.flags.includes('auth_error') &&
        !s.flags.includes('master') &&
        s.replicatesFrom !== this.primary;
      if (!standalone || admin.includes('maintenance') || this.rejoinRefused.get(s.name) === s.gtid) continue;
      this.logger.notice(
        { monitor: this.name, server: s.name },
        `monitor '${this.name}': '${s.name}' does not replicate from the primary '${this.primary}': rejoining it`,
      );
      this.rejoin(s.name).then(
        () => this.rejoinRefused.delete(s.name),
        () => this.rejoinRefused.set(s.name, s.gtid),
      );
      return; // one operation at a time; the next round looks again
    }
  }

  private forget(server: ConfigObject): void {
    if (server.runtime.facts.flags.length === 0) return;
    server.runtime.facts = {
      ...noFacts(),
      last_event: server.runtime.facts.last_event,
      triggered_at: server.runtime.facts.triggered_at,
    };
    this.core.touch(server);
  }
}

/** Keeps one MariaDBMonitor per monitor object, following creation, changes and deletion. */
export class Monitors {
  private readonly monitors = new Map<string, MariaDBMonitor>();

  constructor(
    private readonly core: Core,
    private readonly logger: WeirLogger,
  ) {
    for (const m of core.list('monitor')) this.add(m);
    core.on('created', (obj) => obj.kind === 'monitor' && this.add(obj));
    core.on('changed', (obj) => {
      if (obj.kind === 'monitor') this.monitors.get(obj.name.toLowerCase())?.sync();
    });
    core.on('destroyed', (obj) => {
      if (obj.kind !== 'monitor') return;
      const m = this.monitors.get(obj.name.toLowerCase());
      this.monitors.delete(obj.name.toLowerCase());
      m?.stopInBackground();
    });
  }

  get(name: string): MariaDBMonitor | undefined {
    return this.monitors.get(name.toLowerCase());
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.monitors.values()].map((m) => m.stop()));
  }

  private add(obj: ConfigObject): void {
    const m = new MariaDBMonitor(this.core, obj, this.logger);
    this.monitors.set(obj.name.toLowerCase(), m);
    m.sync();
  }
}
