/**
 * The mariadbmon monitor: every `monitor_interval` it probes each of its servers (in
 * parallel, one connection each), assigns roles, records each server's facts and state,
 * and logs every state change as an event. Runs while the monitor's state is `running`;
 * follows changes to the monitor (interval, servers, credentials) from the next round.
 */
import type { Core } from '../core/core.ts';
import { noFacts, stringList, type ConfigObject } from '../core/objects.ts';
import type { WeirLogger } from '../log/logger.ts';
import { ServerProbe } from './probe.ts';
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

  constructor(private readonly core: Core, private readonly obj: ConfigObject, private readonly logger: WeirLogger) {}

  get name(): string {
    return this.obj.name;
  }

  /** Starts or stops polling to match the monitor's configured state. */
  sync(): void {
    const shouldRun = this.obj.params.state === 'running';
    if (shouldRun && !this.running) this.start();
    else if (!shouldRun && this.running) void this.stop();
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

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.tickInFlight;
    for (const p of this.probes.values()) p.close();
    this.probes.clear();
    for (const server of this.servers()) this.forget(server);
    this.primary = null;
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
    return stringList(this.obj.params.servers!).map((n) => this.core.find('server', n)).filter((s): s is ConfigObject => !!s);
  }

  private schedule(delay: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.tickInFlight = this.tick().finally(() => {
        this.tickInFlight = null;
        if (this.running) this.schedule(Number(this.obj.params.monitor_interval));
      });
    }, delay);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    const servers = this.servers();
    const p = this.obj.params;
    const observed: Observed[] = await Promise.all(servers.map(async (s) => {
      let probe = this.probes.get(s.name.toLowerCase());
      if (!probe) this.probes.set(s.name.toLowerCase(), (probe = new ServerProbe()));
      const result = await probe.probe({
        host: String(s.params.address), port: Number(s.params.port), user: String(p.user), password: String(p.password ?? ''),
        connectTimeout: Number(p.connect_timeout), readTimeout: Number(p.read_timeout),
      });
      if (result.status === 'up' && result.warning && !this.warned.has(s.name)) {
        this.warned.add(s.name);
        this.logger.warning({ monitor: this.name, server: s.name }, `monitor '${this.name}', server '${s.name}': ${result.warning}`);
      }
      return { name: s.name, address: String(s.params.address), port: Number(s.params.port), result };
    }));
    if (!this.running) return;
    const { primary, roles } = assignRoles(observed, this.primary);
    if (primary !== this.primary && this.primary !== null) {
      this.logger.warning({ monitor: this.name, old: this.primary, new: primary }, `monitor '${this.name}': the primary changed from ${this.primary} to ${primary ?? 'none'}`);
    }
    this.primary = primary;
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
      const changed = event !== null || JSON.stringify({ ...facts, last_event: null, triggered_at: null, ...next }) !== JSON.stringify({ ...facts, last_event: null, triggered_at: null });
      Object.assign(facts, next);
      if (event) {
        facts.last_event = event;
        facts.triggered_at = new Date();
        const detail = r.status === 'up' ? undefined : r.error;
        this.logger.notice({ monitor: this.name, server: o.name, event, from: before, to: role.flags, error: detail },
          `Server changed state: ${o.name}[${o.address}:${o.port}]: ${event}. [${before.join(', ')}] -> [${role.flags.join(', ')}]`);
      }
      if (changed) this.core.touch(server);
    }
    this.obj.runtime.ticks++;
    this.core.touch(this.obj);
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) w();
  }

  private forget(server: ConfigObject): void {
    if (server.runtime.facts.flags.length === 0) return;
    server.runtime.facts = { ...noFacts(), last_event: server.runtime.facts.last_event, triggered_at: server.runtime.facts.triggered_at };
    this.core.touch(server);
  }
}

/** Keeps one MariaDBMonitor per monitor object, following creation, changes and deletion. */
export class Monitors {
  private readonly monitors = new Map<string, MariaDBMonitor>();

  constructor(private readonly core: Core, private readonly logger: WeirLogger) {
    for (const m of core.list('monitor')) this.add(m);
    core.on('created', (obj) => obj.kind === 'monitor' && this.add(obj));
    core.on('changed', (obj) => {
      if (obj.kind === 'monitor') this.monitors.get(obj.name.toLowerCase())?.sync();
    });
    core.on('destroyed', (obj) => {
      if (obj.kind !== 'monitor') return;
      const m = this.monitors.get(obj.name.toLowerCase());
      this.monitors.delete(obj.name.toLowerCase());
      void m?.stop();
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
