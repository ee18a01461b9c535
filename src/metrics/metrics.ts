/**
 * Weir's Prometheus metrics (prom-client): every `weir_` metric, Node's standard process
 * metrics beside them, and the text served at `GET /metrics`.
 *
 * Most values are read from the core's live state at scrape time (sessions, objects,
 * monitor facts), so the data plane pays nothing for them and a deleted object's series
 * vanish with it. What live state does not keep — refused logins, failed backend
 * connects, reply times, listener accepts, closed sessions, monitor events, cluster operations — is
 * counted as it happens, through the core's TrafficObserver and events, and those series
 * are removed when their object is deleted.
 *
 * Labels are object names and small fixed sets only: never users, addresses or SQL.
 */
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import type { Core } from '../core/core.ts';
import { serverStates, type ConfigObject } from '../core/objects.ts';
import type { ReplyTimer, TrafficObserver } from '../core/traffic.ts';
import type { WeirInfo } from '../context.ts';
import type { WeirLogger } from '../log/logger.ts';
import { liveCounter, liveGauge, removeSeriesOf, stateSet } from './define.ts';
import { FastHistogram } from './fast-histogram.ts';
import { closeReason } from './dataplane.ts';
import type { Session } from '../core/sessions.ts';

/** Statement reply times: 0.5 ms to 10 s, as MaxScale operators read response-time distributions. */
export const REPLY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const ADMIN_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5];
const OPERATION_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export const SERVICE_STATES = ['started', 'stopped'] as const;
export const SERVER_STATES = ['running', 'master', 'slave', 'down', 'auth_error', 'maintenance', 'draining'] as const;
export const LISTENER_STATES = ['running', 'failed', 'stopped'] as const;
export const MONITOR_STATES = ['running', 'stopped'] as const;
const ADMIN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * prom-client's default gauges whose names end in `_total` (promtool's lint reserves that
 * suffix for counters). `nodejs_active_handles` and friends, by type, say the same.
 */
const DROPPED_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export class WeirMetrics {
  readonly registry = new Registry();
  readonly traffic: TrafficObserver;
  private readonly adminRequests: Counter;
  private readonly adminDuration: Histogram;
  /** Each server's last monitor event seen, to count each event once. */
  private readonly lastEvent = new Map<string, Date | null>();
  /** Reply timers by service, then server, shared by their sessions. */
  private readonly replyTimers = new Map<string, Map<string, ReplyTimer>>();

  constructor(
    private readonly core: Core,
    info: WeirInfo,
    private readonly logger: WeirLogger,
  ) {
    const r = this.registry;
    collectDefaultMetrics({ register: r });
    for (const name of DROPPED_DEFAULTS) r.removeSingleMetric(name);

    liveGauge(
      r,
      'weir_build_info',
      "Weir's version and commit, and the Node.js running it (always 1).",
      ['version', 'commit', 'node_version'],
      (set) => set({ version: info.version, commit: info.commit ?? 'unknown', node_version: process.version }, 1),
    );
    liveGauge(r, 'weir_uptime_seconds', 'Seconds since Weir started.', [], (set) =>
      set({}, (Date.now() - info.started.getTime()) / 1000),
    );

    // ---- services ----
    const services = () => core.list('service');
    const router = (s: ConfigObject) => String(s.params.router);
    liveGauge(
      r,
      'weir_service_sessions_current',
      'Client sessions open on the service now.',
      ['service', 'router'],
      (set) => services().forEach((s) => set({ service: s.name, router: router(s) }, s.runtime.currentConnections)),
    );
    liveCounter(
      r,
      'weir_service_sessions_created_total',
      'Client sessions the service has accepted since Weir started.',
      ['service', 'router'],
      (add) => services().forEach((s) => add({ service: s.name, router: router(s) }, s.runtime.totalConnections)),
    );
    liveGauge(r, 'weir_service_max_sessions', "The service's max_connections (0: unlimited).", ['service'], (set) =>
      services().forEach((s) => set({ service: s.name }, Number(s.params.max_connections ?? 0))),
    );
    stateSet(r, 'weir_service_state', "The service's state: 1 for the current one.", 'service', SERVICE_STATES, (set) =>
      services().forEach((s) => set(s.name, [String(s.params.state)])),
    );
    liveCounter(
      r,
      'weir_service_statements_total',
      'Statements (client commands) the service has routed.',
      ['service'],
      (add) => services().forEach((s) => add({ service: s.name }, core.sessions.serviceTotals(s.name).statements)),
    );
    liveCounter(
      r,
      'weir_service_bytes_total',
      'Bytes between clients and the service: client_in from clients, client_out to them.',
      ['service', 'direction'],
      (add) =>
        services().forEach((s) => {
          const t = core.sessions.serviceTotals(s.name);
          add({ service: s.name, direction: 'client_in' }, t.bytesIn);
          add({ service: s.name, direction: 'client_out' }, t.bytesOut);
        }),
    );
    const authFailures = new Counter({
      name: 'weir_client_auth_failures_total',
      help: 'Client logins the service refused, by reason.',
      labelNames: ['service', 'reason'],
      registers: [r],
    });
    // Observed per statement: a histogram cheap to observe (fast-histogram.ts).
    const serviceReply = new FastHistogram(
      'weir_service_response_time_seconds',
      'Time from a statement reaching Weir to the first byte of its reply (a statement sent while another waits is timed with it).',
      'service',
      REPLY_BUCKETS,
      r,
    );

    const sessionsClosed = new Counter({
      name: 'weir_sessions_closed_total',
      help: 'Client sessions of the service that ended, by reason (client_quit, idle_timeout, backend_error, ...).',
      labelNames: ['service', 'reason'],
      registers: [r],
    });

    // ---- back-pressure ----
    liveCounter(
      r,
      'weir_backpressure_pauses_total',
      "Times a server's replies were paused because the service's client read slower than the server sent.",
      ['service'],
      (add) => services().forEach((s) => add({ service: s.name }, core.sessions.serviceTotals(s.name).pauses)),
    );
    /** Sums a per-session reading by service and side; every service has both sides, 0 when idle. */
    const flowByService = (
      set: (labels: Record<string, string>, value: number) => void,
      read: (session: Session, add: (side: 'client' | 'backend', n: number) => void) => void,
    ) => {
      const sums = new Map<string, { name: string; client: number; backend: number }>();
      for (const s of services()) sums.set(s.name.toLowerCase(), { name: s.name, client: 0, backend: 0 });
      for (const session of core.sessions.list()) {
        const sum = sums.get(session.service.toLowerCase());
        if (sum) read(session, (side, n) => (sum[side] += n));
      }
      for (const { name, client, backend } of sums.values()) {
        set({ service: name, side: 'client' }, client);
        set({ service: name, side: 'backend' }, backend);
      }
    };

    liveGauge(
      r,
      'weir_backpressure_paused_reads',
      "Sockets whose reads are paused now: side=backend a server's (its client is slow), side=client a client's (its server or a filter is behind).",
      ['service', 'side'],
      (set) =>
        flowByService(set, (session, add) => {
          add('client', session.flow?.().paused ? 1 : 0);
          for (const b of session.backends)
            if (b.state !== 'Closed') add('backend', b.stats.high_water_events > b.stats.low_water_events ? 1 : 0);
        }),
    );
    liveGauge(
      r,
      'weir_backpressure_buffered_bytes',
      'Bytes Weir holds for sockets that have not taken them yet: side=client to clients, side=backend to servers.',
      ['service', 'side'],
      (set) =>
        flowByService(set, (session, add) => {
          add('client', session.flow?.().buffered ?? 0);
          for (const b of session.backends) if (b.state !== 'Closed') add('backend', b.bufferedBytes?.() ?? 0);
        }),
    );
    // ---- servers ----
    const servers = () => core.list('server');
    liveGauge(r, 'weir_server_up', '1 when the monitor finds the server running.', ['server'], (set) =>
      servers().forEach((s) => set({ server: s.name }, s.runtime.facts.flags.includes('running') ? 1 : 0)),
    );
    stateSet(
      r,
      'weir_server_state',
      "The server's states (monitor flags and maintenance/draining): 1 for each current one.",
      'server',
      SERVER_STATES,
      (set) => servers().forEach((s) => set(s.name, serverStates(s))),
    );
    liveGauge(r, 'weir_server_connections_current', 'Connections Weir holds to the server now.', ['server'], (set) =>
      servers().forEach((s) => set({ server: s.name }, s.runtime.currentConnections)),
    );
    liveCounter(
      r,
      'weir_server_connections_opened_total',
      'Connections Weir has opened (or tried to) to the server.',
      ['server'],
      (add) => servers().forEach((s) => add({ server: s.name }, s.runtime.totalConnections)),
    );
    liveCounter(r, 'weir_server_statements_total', 'Statements routed to the server.', ['server'], (add) =>
      servers().forEach((s) => add({ server: s.name }, core.sessions.serverTotals(s.name).statements)),
    );
    liveCounter(
      r,
      'weir_server_bytes_total',
      'Bytes between Weir and the server: sent to it and received from it.',
      ['server', 'direction'],
      (add) =>
        servers().forEach((s) => {
          const t = core.sessions.serverTotals(s.name);
          add({ server: s.name, direction: 'sent' }, t.bytesIn);
          add({ server: s.name, direction: 'received' }, t.bytesOut);
        }),
    );
    liveGauge(
      r,
      'weir_server_replication_lag_seconds',
      'Seconds_Behind_Master of a replica, as the monitor last read it (absent when unknown).',
      ['server'],
      (set) =>
        servers().forEach(
          (s) => s.runtime.facts.replication_lag !== null && set({ server: s.name }, s.runtime.facts.replication_lag),
        ),
    );
    liveGauge(
      r,
      'weir_server_read_only',
      "The server's read_only, as the monitor last read it (absent when unknown).",
      ['server'],
      (set) =>
        servers().forEach(
          (s) => s.runtime.facts.read_only !== null && set({ server: s.name }, s.runtime.facts.read_only ? 1 : 0),
        ),
    );
    liveCounter(
      r,
      'weir_server_errors_total',
      'ERR replies the server sent, by SQLSTATE class (its first two characters; `other` for classes Weir does not know).',
      ['server', 'sqlstate_class'],
      (add) =>
        servers().forEach((s) => {
          for (const [sqlstate_class, n] of s.runtime.errorsByClass) add({ server: s.name, sqlstate_class }, n);
        }),
    );
    const connectErrors = new Counter({
      name: 'weir_server_connect_errors_total',
      help: 'Backend connections to the server that failed, by reason.',
      labelNames: ['server', 'reason'],
      registers: [r],
    });
    const serverReply = new FastHistogram(
      'weir_server_response_time_seconds',
      'Time from a statement being routed to the server to the first byte of its reply, as the service histogram.',
      'server',
      REPLY_BUCKETS,
      r,
    );

    // ---- listeners ----
    const listeners = () => core.list('listener');
    stateSet(
      r,
      'weir_listener_state',
      "The listener's socket state: 1 for the current one.",
      'listener',
      LISTENER_STATES,
      (set) => listeners().forEach((l) => set(l.name, [l.runtime.listenerState ?? 'stopped'])),
    );
    liveGauge(
      r,
      'weir_listener_info',
      'Which service each listener feeds (always 1).',
      ['listener', 'service'],
      (set) => listeners().forEach((l) => set({ listener: l.name, service: String(l.params.service) }, 1)),
    );
    const accepted = new Counter({
      name: 'weir_listener_connections_accepted_total',
      help: 'Client connections the listener accepted for its service.',
      labelNames: ['listener'],
      registers: [r],
    });
    const rejected = new Counter({
      name: 'weir_listener_connections_rejected_total',
      help: 'Client connections the listener turned away, by reason.',
      labelNames: ['listener', 'reason'],
      registers: [r],
    });

    // ---- filters ----
    const usersOf = (f: ConfigObject) => core.servicesOfFilter(f.name);
    liveGauge(r, 'weir_filter_services', 'Services whose filters list the filter.', ['filter', 'module'], (set) =>
      core.list('filter').forEach((f) => set({ filter: f.name, module: String(f.params.module) }, usersOf(f).length)),
    );
    liveGauge(
      r,
      'weir_filter_sessions_current',
      'Client sessions now open on services that use the filter.',
      ['filter', 'module'],
      (set) =>
        core.list('filter').forEach((f) =>
          set(
            { filter: f.name, module: String(f.params.module) },
            usersOf(f).reduce((n, s) => n + s.runtime.currentConnections, 0),
          ),
        ),
    );

    liveCounter(
      r,
      'weir_filter_statements_total',
      "Statements the filter's sessions saw (a session the filter does not apply to, by user or source, is not counted).",
      ['filter', 'module'],
      (add) =>
        core
          .list('filter')
          .forEach((f) => add({ filter: f.name, module: String(f.params.module) }, f.runtime.statements)),
    );

    // ---- monitors ----
    const monitors = () => core.list('monitor');
    stateSet(r, 'weir_monitor_state', "The monitor's state: 1 for the current one.", 'monitor', MONITOR_STATES, (set) =>
      monitors().forEach((m) => set(m.name, [String(m.params.state)])),
    );
    liveCounter(r, 'weir_monitor_ticks_total', 'Monitoring rounds the monitor has completed.', ['monitor'], (add) =>
      monitors().forEach((m) => add({ monitor: m.name }, m.runtime.ticks)),
    );
    liveGauge(
      r,
      'weir_monitor_auto_failover_enabled',
      '1 when the monitor fails over automatically.',
      ['monitor'],
      (set) => monitors().forEach((m) => set({ monitor: m.name }, m.params.auto_failover === true ? 1 : 0)),
    );
    liveGauge(
      r,
      'weir_monitor_auto_rejoin_enabled',
      '1 when the monitor rejoins servers automatically.',
      ['monitor'],
      (set) => monitors().forEach((m) => set({ monitor: m.name }, m.params.auto_rejoin === true ? 1 : 0)),
    );
    const monitorEvents = new Counter({
      name: 'weir_monitor_events_total',
      help: 'Server state events the monitor saw (server_up, master_down, ...).',
      labelNames: ['monitor', 'event'],
      registers: [r],
    });
    const operations = new Counter({
      name: 'weir_cluster_operations_total',
      help: 'Switchovers, failovers and rejoins the monitor ran, by result.',
      labelNames: ['monitor', 'operation', 'result'],
      registers: [r],
    });
    const operationDuration = new Histogram({
      name: 'weir_cluster_operation_duration_seconds',
      help: 'How long cluster operations took.',
      labelNames: ['monitor', 'operation'],
      buckets: OPERATION_BUCKETS,
      registers: [r],
    });

    // ---- admin API ----
    this.adminRequests = new Counter({
      name: 'weir_admin_requests_total',
      help: 'Admin API requests, by method, path template and status code.',
      labelNames: ['method', 'route', 'code'],
      registers: [r],
    });
    this.adminDuration = new Histogram({
      name: 'weir_admin_request_duration_seconds',
      help: 'Admin API request durations, by method and path template.',
      labelNames: ['method', 'route'],
      buckets: ADMIN_BUCKETS,
      registers: [r],
    });

    this.traffic = {
      authFailed: (service, reason) => authFailures.inc({ service, reason }),
      connectFailed: (server, reason) => connectErrors.inc({ server, reason }),
      accepted: (listener) => accepted.inc({ listener }),
      rejected: (listener, reason) => rejected.inc({ listener, reason }),
      sessionClosed: (service, reason, quit) => sessionsClosed.inc({ service, reason: closeReason(reason, quit) }),
      // One timer per service and server, shared by their sessions: a session's own closures
      // would be as many objects to fetch (cache misses) on every reply.
      replyTimer: (service, server) => {
        let ofService = this.replyTimers.get(service);
        if (!ofService) this.replyTimers.set(service, (ofService = new Map()));
        let timer = ofService.get(server);
        if (!timer) {
          const a = serviceReply.observer(service);
          const b = serverReply.observer(server);
          timer = (seconds) => {
            a(seconds);
            b(seconds);
          };
          ofService.set(server, timer);
        }
        return timer;
      },
    };

    core.on('touched', (obj) => {
      if (obj.kind !== 'server') return;
      const { triggered_at: at, last_event: event } = obj.runtime.facts;
      const key = obj.name.toLowerCase();
      if (!at || !event || at === (this.lastEvent.get(key) ?? null)) return;
      this.lastEvent.set(key, at);
      const monitor = core.monitorsOfServer(obj.name)[0];
      if (monitor) monitorEvents.inc({ monitor: monitor.name, event });
    });
    core.on('clusterOperation', (o) => {
      operations.inc({ monitor: o.monitor, operation: o.operation, result: o.result });
      operationDuration.observe({ monitor: o.monitor, operation: o.operation }, o.seconds);
    });
    const ownSeries: Record<string, Array<{ metric: Parameters<typeof removeSeriesOf>[0]; label: string }>> = {
      service: [
        { metric: authFailures, label: 'service' },
        { metric: serviceReply, label: 'service' },
        { metric: sessionsClosed, label: 'service' },
      ],
      server: [
        { metric: connectErrors, label: 'server' },
        { metric: serverReply, label: 'server' },
      ],
      listener: [
        { metric: accepted, label: 'listener' },
        { metric: rejected, label: 'listener' },
      ],
      monitor: [
        { metric: monitorEvents, label: 'monitor' },
        { metric: operations, label: 'monitor' },
        { metric: operationDuration, label: 'monitor' },
      ],
      filter: [],
    };
    core.on('destroyed', (obj) => {
      if (obj.kind === 'service' || obj.kind === 'server') core.sessions.forget(obj.name);
      if (obj.kind === 'server') this.lastEvent.delete(obj.name.toLowerCase());
      // A session still holding a dropped timer keeps working: its observers find the live series again.
      if (obj.kind === 'service') this.replyTimers.delete(obj.name);
      if (obj.kind === 'server') for (const ofService of this.replyTimers.values()) ofService.delete(obj.name);
      Promise.all(ownSeries[obj.kind]!.map(({ metric, label }) => removeSeriesOf(metric, label, obj.name))).catch(
        (err: Error) =>
          this.logger.error(
            { err: err.message },
            `metrics of ${obj.kind} '${obj.name}' could not be removed: ${err.message}`,
          ),
      );
    });
  }

  /** Counts one admin API request once it has been answered. */
  adminRequest(method: string, route: string | null, code: number, seconds: number): void {
    const m = ADMIN_METHODS.has(method) ? method : 'other';
    const routeLabel = route ?? 'unmatched';
    this.adminRequests.inc({ method: m, route: routeLabel, code: String(code) });
    this.adminDuration.observe({ method: m, route: routeLabel }, seconds);
  }

  /** The exposition text for `GET /metrics`. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
