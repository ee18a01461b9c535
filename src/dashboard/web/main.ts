/**
 * The Weir dashboard: polls the admin API every REFRESH_MS, streams per-service statistics
 * from the command API, and updates the page in place.
 */
import {
  api,
  outcome,
  type Filter,
  type Listener,
  type Monitor,
  type Server,
  type Service,
  type Session,
} from './api.ts';
import { notify, onActionDone, readOnly } from './actions.ts';
import { LineChart } from './chart.ts';
import { byId, rate, setText } from './dom.ts';
import { History } from './history.ts';
import { Overview } from './overview.ts';
import { SessionsView } from './sessions.ts';
import { StatsStream } from './stats.ts';

const REFRESH_MS = 1500;
/** Listeners change rarely and cost one request per service: every few refreshes. */
const LISTENER_EVERY = 5;
const CHART_MS = 5 * 60_000;

const history = new History();
const overview = new Overview(history);
const sessions = new SessionsView();
const charts = {
  qps: new LineChart('chart-qps', 'Statements per second, per service', '/s', CHART_MS),
  connections: new LineChart('chart-connections', 'Backend connections, per server', '', CHART_MS),
  latency: new LineChart('chart-latency', 'Reply time percentiles', ' ms', CHART_MS),
};

byId('topology').append(overview.topology.root);
byId('servers-table').append(overview.servers.root);
byId('services-table').append(overview.services.root);
byId('monitors-table').append(overview.monitors.root);
byId('listeners-table').append(overview.listeners.root);
byId('filters-table').append(overview.filters.root);
byId('sessions-table').append(sessions.table.root);
byId('charts').append(charts.qps.root, charts.connections.root, charts.latency.root);
const latencyService = byId<HTMLSelectElement>('latency-service');
charts.latency.root.querySelector('figcaption')!.append(latencyService);
setText(byId('role'), readOnly ? 'read-only (basic role)' : 'admin');
byId('role').classList.toggle('read-only', readOnly);

// Tabs: the hash names the visible one, so a reload or a link keeps it.
function showTab(): void {
  const tab = location.hash === '#sessions' ? 'sessions' : 'overview';
  for (const t of document.querySelectorAll<HTMLElement>('[data-tab]')) t.hidden = t.dataset.tab !== tab;
  for (const a of document.querySelectorAll<HTMLAnchorElement>('nav.tabs a'))
    a.setAttribute('aria-current', a.hash === `#${tab}` ? 'page' : 'false');
  sessions.visible = tab === 'sessions';
  if (sessions.visible) sessions.render();
}
window.addEventListener('hashchange', showTab);
showTab();

let ticks = 0;
let listeners: Listener[] = [];
let services: Service[] = [];
let refreshing: Promise<void> | null = null;

async function refresh(): Promise<void> {
  const [sv, se, mo, fi, ss] = await Promise.all([
    outcome<Server[]>(api.GET('/servers')),
    outcome<Service[]>(api.GET('/services')),
    outcome<Monitor[]>(api.GET('/monitors')),
    outcome<Filter[]>(api.GET('/filters')),
    outcome<Session[]>(api.GET('/sessions')),
  ]);
  const failed = [sv, se, mo, fi, ss].find((r) => !r.ok);
  const status = byId('status');
  if (failed && !failed.ok) {
    status.className = 'status stale';
    setText(status, `Not updating: ${failed.message}`);
    return;
  }
  if (!sv.ok || !se.ok || !mo.ok || !fi.ok || !ss.ok) return;
  services = se.data;
  if (ticks++ % LISTENER_EVERY === 0) {
    const lists = await Promise.all(
      services.map((s) =>
        outcome<Listener[]>(api.GET('/services/{name}/listeners', { params: { path: { name: s.name } } })),
      ),
    );
    listeners = lists.flatMap((l) => (l.ok ? l.data : []));
  }
  // Measured so test/bench/dashboard.bench.ts can report what a refresh costs the browser.
  const started = performance.now();
  const now = Date.now();
  for (const s of sv.data) history.add(`conn:${s.name}`, now, s.statistics.connections);
  overview.update(sv.data, services, mo.data, listeners, fi.data);
  sessions.update(ss.data);
  updateSummary(sv.data, ss.data.length);
  charts.connections.update(
    sv.data.map((s) => ({ name: s.name, samples: history.get(`conn:${s.name}`) })),
    now,
  );
  status.className = 'status live';
  setText(status, `Live · updated ${new Date(now).toLocaleTimeString()}`);
  if (ticks % 200 === 0) performance.clearMeasures('dashboard-update');
  performance.measure('dashboard-update', { start: started });
}

function updateSummary(servers: Server[], sessionCount: number): void {
  const primary = servers.find((s) => s.state.includes('master'));
  setText(byId('kpi-primary'), primary?.name ?? 'none');
  byId('kpi-primary').classList.toggle('bad', !primary);
  const up = servers.filter((s) => s.state.includes('running')).length;
  setText(byId('kpi-servers'), `${up} / ${servers.length}`);
  byId('kpi-servers').classList.toggle('bad', up < servers.length);
  setText(byId('kpi-sessions'), String(sessionCount));
  const qps = services.reduce((sum, s) => sum + (history.last(`qps:${s.name}`) ?? 0), 0);
  setText(byId('kpi-qps'), rate(qps));
}

function updateFailed(err: unknown): void {
  notify('error', `The page failed to update: ${(err as Error).message}`);
}

/** One refresh at a time; a slow answer delays the next instead of piling requests up. */
function refreshNow(): Promise<void> {
  refreshing ??= refresh()
    .catch(updateFailed)
    .finally(() => (refreshing = null));
  return refreshing;
}

async function loop(): Promise<void> {
  for (;;) {
    const started = Date.now();
    await refreshNow();
    await new Promise((resolve) => setTimeout(resolve, Math.max(200, REFRESH_MS - (Date.now() - started))));
  }
}

onActionDone(() => {
  refreshNow().catch(updateFailed);
});

function showStatsProblem(problem: string | null): void {
  const el = byId('stats-status');
  setText(el, problem ?? '');
  el.hidden = !problem;
}

const stats = new StatsStream((r) => {
  const now = Date.now();
  for (const s of r.services) {
    history.add(`qps:${s.name}`, now, s.qps);
    history.add(`p50:${s.name}`, now, s.p50Ms);
    history.add(`p95:${s.name}`, now, s.p95Ms);
    history.add(`p99:${s.name}`, now, s.p99Ms);
  }
  const names = r.services.map((s) => s.name);
  if ([...latencyService.options].map((o) => o.value).join() !== names.join()) {
    const chosen = latencyService.value;
    latencyService.replaceChildren(...names.map((n) => new Option(n, n)));
    if (names.includes(chosen)) latencyService.value = chosen;
  }
  drawStats(now);
}, showStatsProblem);

function drawStats(now: number): void {
  charts.qps.update(
    services.map((s) => ({ name: s.name, samples: history.get(`qps:${s.name}`) })),
    now,
  );
  const svc = latencyService.value;
  charts.latency.update(
    svc ? ['p50', 'p95', 'p99'].map((p) => ({ name: p, samples: history.get(`${p}:${svc}`) })) : [],
    now,
  );
}
latencyService.addEventListener('change', () => drawStats(Date.now()));
window.addEventListener('pagehide', () => stats.close());

loop().catch(updateFailed);
stats.run().catch((err) => showStatsProblem(`Statistics stopped: ${(err as Error).message}`));
