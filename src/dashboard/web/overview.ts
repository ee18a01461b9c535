/**
 * The overview: servers with state badges and their actions, the replication topology,
 * services with a live statements-per-second line, monitors with the cluster operations,
 * listeners and filters.
 */
import { api, nameOf, outcome, type Filter, type Listener, type Monitor, type Server, type Service } from './api.ts';
import { actionButton, performFromClick, setAction } from './actions.ts';
import { badges } from './badges.ts';
import { Sparkline } from './chart.ts';
import { el, rate, setAttr, setText } from './dom.ts';
import type { History } from './history.ts';
import { KeyedTable } from './table.ts';
import { TopologyGraph } from './topology.ts';

const SPARK_MS = 2 * 60_000;
const JSON_PATCH = { 'Content-Type': 'application/json-patch+json' } as const;

/** Replaces the badges only when the flags changed. */
function fillState(td: HTMLElement, state: readonly string[]): void {
  const text = state.join(' ');
  if (td.dataset.state === text && td.firstChild) return;
  td.dataset.state = text;
  td.replaceChildren(badges(state));
}

/** Adds or removes an administrative flag; removal names the flag's index and tests it first. */
function setFlag(server: Server, flag: 'maintenance' | 'draining', on: boolean) {
  const shown =
    flag === 'draining'
      ? server.state.findIndex((f) => f === 'draining' || f === 'drained')
      : server.state.indexOf(flag);
  const body = on
    ? [{ op: 'add' as const, path: '/state/-', value: flag }]
    : [
        { op: 'test' as const, path: `/state/${shown}`, value: server.state[shown] },
        { op: 'remove' as const, path: `/state/${shown}` },
      ];
  return outcome(api.PATCH('/servers/{name}', { params: { path: { name: server.name } }, body, headers: JSON_PATCH }));
}

function serverActions(td: HTMLTableCellElement, s: Server, first: boolean): void {
  if (first) {
    const maintenance = actionButton('', '');
    const drain = actionButton('', '');
    maintenance.addEventListener('click', () => {
      const on = maintenance.dataset.action === 'maintenance-on';
      const server = current.servers.get(td.parentElement!.dataset.key!)!;
      performFromClick(
        {
          question: on
            ? `Put ${server.name} into maintenance? The monitor stops watching it and routers stop using it.`
            : `Take ${server.name} out of maintenance?`,
          done: on ? `${server.name} is in maintenance.` : `${server.name} is out of maintenance.`,
          run: () => setFlag(server, 'maintenance', on),
        },
        maintenance,
      );
    });
    drain.addEventListener('click', () => {
      const on = drain.dataset.action === 'drain-on';
      const server = current.servers.get(td.parentElement!.dataset.key!)!;
      performFromClick(
        {
          question: on
            ? `Drain ${server.name}? It gets no new connections; existing ones stay until they end.`
            : `Stop draining ${server.name}?`,
          done: on ? `${server.name} is draining.` : `${server.name} takes new connections again.`,
          run: () => setFlag(server, 'draining', on),
        },
        drain,
      );
    });
    td.append(el('span', { class: 'actions' }, maintenance, drain));
  }
  const [maintenance, drain] = td.querySelectorAll<HTMLButtonElement>('button');
  const inMaintenance = s.state.includes('maintenance');
  const draining = s.state.includes('draining') || s.state.includes('drained');
  setAction(
    maintenance!,
    inMaintenance ? 'End maintenance' : 'Maintenance',
    inMaintenance ? 'maintenance-off' : 'maintenance-on',
  );
  setAction(drain!, draining ? 'Stop draining' : 'Drain', draining ? 'drain-off' : 'drain-on');
}

/** The latest lists, by name, for the buttons' handlers (a row's item may be several refreshes old). */
const current = {
  servers: new Map<string, Server>(),
  monitors: new Map<string, Monitor>(),
  services: new Map<string, Service>(),
};

export class Overview {
  readonly topology = new TopologyGraph();
  readonly servers = new KeyedTable<Server>(
    'servers',
    [
      { header: 'Server', fill: (td, s, first) => first && td.append(el('strong', {}, s.name)) },
      { header: 'Address', fill: (td, s) => setText(td, `${s.address}:${s.port}`) },
      { header: 'State', fill: (td, s) => fillState(td, s.state) },
      { header: 'Connections', className: 'num', fill: (td, s) => setText(td, String(s.statistics.connections)) },
      { header: 'GTID', className: 'mono', fill: (td, s) => setText(td, s.gtid_current_pos ?? '–') },
      {
        header: 'Lag',
        className: 'num',
        fill: (td, s) => setText(td, s.replication_lag === null ? '–' : `${s.replication_lag} s`),
      },
      {
        header: 'Version',
        className: 'dim',
        fill: (td, s) => setText(td, s.version_string?.replace(/-.*/, '') ?? '–'),
      },
      { header: '', className: 'act', fill: serverActions },
    ],
    (s) => s.name,
    'No servers',
  );

  private readonly sparks = new Map<string, Sparkline>();
  readonly services: KeyedTable<Service>;
  readonly monitors: KeyedTable<Monitor>;
  readonly listeners = new KeyedTable<Listener>(
    'listeners',
    [
      { header: 'Listener', fill: (td, l) => setText(td, l.name) },
      { header: 'Service', fill: (td, l) => setText(td, nameOf(l.service)) },
      { header: 'Address', className: 'mono', fill: (td, l) => setText(td, `${l.address}:${l.port}`) },
      { header: 'State', fill: (td, l) => stateBadge(td, l.state) },
    ],
    (l) => `${l.service}/${l.name}`,
    'No listeners',
  );
  readonly filters = new KeyedTable<Filter>(
    'filters',
    [
      { header: 'Filter', fill: (td, f) => setText(td, f.name) },
      { header: 'Module', fill: (td, f) => setText(td, f.module) },
      { header: 'Services', fill: (td, f) => setText(td, f.services.map(nameOf).join(', ') || '–') },
    ],
    (f) => f.name,
    'No filters',
  );

  constructor(private readonly history: History) {
    this.services = new KeyedTable<Service>(
      'services',
      [
        { header: 'Service', fill: (td, s, first) => first && td.append(el('strong', {}, s.name)) },
        {
          header: 'Router',
          fill: (td, s) =>
            setText(td, `${s.router}${s.router_options.length ? ` (${s.router_options.join(', ')})` : ''}`),
        },
        { header: 'State', fill: (td, s) => stateBadge(td, s.state) },
        { header: 'Sessions', className: 'num', fill: (td, s) => setText(td, String(s.current_connections)) },
        {
          header: 'Statements/s',
          className: 'num',
          fill: (td, s) => {
            const v = this.history.last(`qps:${s.name}`);
            setText(td, v === null ? '–' : rate(v));
          },
        },
        {
          header: 'Last 2 min',
          className: 'spark-cell',
          fill: (td, s, first) => {
            let spark = this.sparks.get(s.name);
            if (!spark) this.sparks.set(s.name, (spark = new Sparkline(SPARK_MS)));
            if (first) td.append(spark.root);
            spark.update(this.history.get(`qps:${s.name}`), Date.now());
          },
        },
        { header: 'Servers', fill: (td, s) => setText(td, s.servers.map(nameOf).join(', ') || '–') },
        { header: 'Filters', fill: (td, s) => setText(td, s.filters.map(nameOf).join(' → ') || '–') },
        {
          header: '',
          className: 'act',
          fill: (td, s, first) => {
            if (first) {
              const b = actionButton('', '');
              b.addEventListener('click', () => {
                const name = td.parentElement!.dataset.key!;
                const start = b.dataset.action === 'service-start';
                performFromClick(
                  {
                    question: start
                      ? `Start service ${name}? Its listeners accept new clients again.`
                      : `Stop service ${name}? Its listeners accept no new clients; open sessions stay.`,
                    done: `Service ${name} ${start ? 'started' : 'stopped'}.`,
                    run: () =>
                      outcome(
                        start
                          ? api.PUT('/services/{name}/start', { params: { path: { name } } })
                          : api.PUT('/services/{name}/stop', { params: { path: { name } } }),
                      ),
                  },
                  b,
                );
              });
              td.append(b);
            }
            const started = s.state === 'started';
            setAction(
              td.querySelector('button')!,
              started ? 'Stop' : 'Start',
              started ? 'service-stop' : 'service-start',
            );
          },
        },
      ],
      (s) => s.name,
      'No services',
    );

    this.monitors = new KeyedTable<Monitor>(
      'monitors',
      [
        { header: 'Monitor', fill: (td, m, first) => first && td.append(el('strong', {}, m.name)) },
        { header: 'Module', fill: (td, m) => setText(td, m.module) },
        { header: 'State', fill: (td, m) => stateBadge(td, m.state) },
        { header: 'Servers', fill: (td, m) => setText(td, m.servers.map(nameOf).join(', ')) },
        { header: 'Cluster operations', className: 'act', fill: (td, m, first) => this.monitorActions(td, m, first) },
      ],
      (m) => m.name,
      'No monitors',
    );
  }

  update(servers: Server[], services: Service[], monitors: Monitor[], listeners: Listener[], filters: Filter[]): void {
    current.servers = new Map(servers.map((s) => [s.name, s]));
    current.services = new Map(services.map((s) => [s.name, s]));
    current.monitors = new Map(monitors.map((m) => [m.name, m]));
    this.servers.update(servers);
    this.topology.update(servers);
    this.services.update(services);
    this.monitors.update(monitors);
    this.listeners.update(listeners);
    this.filters.update(filters);
  }

  private monitorActions(td: HTMLTableCellElement, m: Monitor, first: boolean): void {
    const name = () => td.parentElement!.dataset.key!;
    if (first) {
      const toggle = actionButton('', '');
      const target = el('select', { class: 'switchover-target', 'aria-label': 'Replica to promote' });
      const switchover = actionButton('Switchover', 'switchover');
      const failover = actionButton('Failover', 'failover', 'danger');
      const rejoinTarget = el('select', { class: 'rejoin-target', 'aria-label': 'Server to rejoin' });
      const rejoin = actionButton('Rejoin', 'rejoin');
      target.disabled = rejoinTarget.disabled = toggle.disabled;
      toggle.addEventListener('click', () => {
        const start = toggle.dataset.action === 'monitor-start';
        const n = name();
        performFromClick(
          {
            question: start ? `Start monitor ${n}?` : `Stop monitor ${n}? Its servers' states are no longer watched.`,
            done: `Monitor ${n} ${start ? 'started' : 'stopped'}.`,
            run: () =>
              outcome(
                start
                  ? api.PUT('/monitors/{name}/start', { params: { path: { name: n } } })
                  : api.PUT('/monitors/{name}/stop', { params: { path: { name: n } } }),
              ),
          },
          toggle,
        );
      });
      switchover.addEventListener('click', () => {
        const n = name(),
          replica = target.value,
          primary = primaryOf(current.monitors.get(n)!);
        if (!replica) return;
        performFromClick(
          {
            question: `Switch the primary over from ${primary ?? '(none)'} to ${replica}?`,
            done: `Switchover done: ${replica} is the primary.`,
            run: () =>
              outcome(
                api.POST('/monitors/{name}/switchover', {
                  params: { path: { name: n } },
                  body: primary ? { new_primary: replica, old_primary: primary } : { new_primary: replica },
                }),
              ),
          },
          switchover,
        );
      });
      failover.addEventListener('click', () => {
        const n = name();
        performFromClick(
          {
            question: `Fail over ${n}'s cluster? The most up-to-date replica is promoted; use this only when the primary is down.`,
            done: 'Failover done.',
            run: () => outcome(api.POST('/monitors/{name}/failover', { params: { path: { name: n } } })),
          },
          failover,
        );
      });
      rejoin.addEventListener('click', () => {
        const n = name(),
          server = rejoinTarget.value;
        if (!server) return;
        performFromClick(
          {
            question: `Rejoin ${server} to the primary of ${n}?`,
            done: `${server} replicates from the primary again.`,
            run: () =>
              outcome(api.POST('/monitors/{name}/rejoin', { params: { path: { name: n } }, body: { server } })),
          },
          rejoin,
        );
      });
      td.append(
        el(
          'span',
          { class: 'actions' },
          toggle,
          el('span', { class: 'op' }, target, switchover),
          failover,
          el('span', { class: 'op' }, rejoinTarget, rejoin),
        ),
      );
    }
    const running = m.state === 'running';
    const [toggle] = td.querySelectorAll<HTMLButtonElement>('button');
    setAction(toggle!, running ? 'Stop' : 'Start', running ? 'monitor-stop' : 'monitor-start');
    const names = m.servers.map(nameOf);
    const primary = primaryOf(m);
    fillOptions(
      td.querySelector<HTMLSelectElement>('.switchover-target')!,
      names.filter((n) => current.servers.get(n)?.state.includes('slave')),
    );
    fillOptions(
      td.querySelector<HTMLSelectElement>('.rejoin-target')!,
      names.filter((n) => n !== primary),
    );
  }
}

function primaryOf(m: Monitor): string | null {
  return m.servers.map(nameOf).find((n) => current.servers.get(n)?.state.includes('master')) ?? null;
}

/** Keeps a select's options equal to `names` while keeping the user's choice. */
function fillOptions(select: HTMLSelectElement, names: string[]): void {
  const have = [...select.options].map((o) => o.value);
  if (have.join('\n') === names.join('\n')) return;
  const chosen = select.value;
  select.replaceChildren(...names.map((n) => el('option', { value: n }, n)));
  if (names.includes(chosen)) select.value = chosen;
}

function stateBadge(td: HTMLElement, state: string): void {
  let b = td.firstElementChild as HTMLElement | null;
  if (!b) td.append((b = el('span')));
  setAttr(b, 'class', `badge state-${state}`);
  setText(b, state);
}
