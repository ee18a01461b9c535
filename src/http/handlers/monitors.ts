import type { components } from '../../../generated/api.d.ts';
import type { WeirContext } from '../../context.ts';
import { stringList, type ConfigObject } from '../../core/objects.ts';
import { link, links, namesFromLinks } from '../links.ts';
import { applyResourcePatch } from '../patch.ts';
import type { HandlerGroup } from '../types.ts';

type Monitor = components['schemas']['Monitor'];
type MonitorParameters = components['schemas']['MariadbmonParameters'];

export function monitorView(weir: WeirContext, obj: ConfigObject): Monitor {
  const p = obj.params;
  const live = weir.monitors.get(obj.name);
  const mode = live?.lockMode ?? 'none';
  return {
    name: obj.name,
    module: 'mariadbmon',
    state: p.state === 'stopped' ? 'stopped' : 'running',
    ticks: obj.runtime.ticks,
    monitor_interval: Number(p.monitor_interval),
    connect_timeout: Number(p.connect_timeout),
    read_timeout: Number(p.read_timeout),
    write_timeout: Number(p.write_timeout),
    servers: links('server', stringList(p.servers!)),
    user: String(p.user),
    parameters: {
      auto_failover: p.auto_failover === true,
      auto_rejoin: p.auto_rejoin === true,
      failcount: Number(p.failcount),
      replication_user: (p.replication_user as string | null) ?? null,
      switchover_timeout: Number(p.switchover_timeout),
      failover_timeout: Number(p.failover_timeout),
      servers_no_promotion: stringList(p.servers_no_promotion ?? []),
      cooperative_monitoring_locks: mode,
    },
    monitor_diagnostics: {
      primary: live?.locks.primary(mode) ?? null,
      server_info: stringList(p.servers!).map((name) => ({
        name,
        lock_held: live?.locks.lockHeld(mode, name) ?? null,
      })),
    },
  };
}

const MODIFIABLE =
  /^\/(servers|monitor_interval|connect_timeout|read_timeout|write_timeout|user|password|parameters)(\/.*)?$/;

function monitorValues(
  b: Partial<Monitor> & { password?: string | null; module?: string; parameters?: MonitorParameters },
): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const key of [
    'module',
    'user',
    'password',
    'monitor_interval',
    'connect_timeout',
    'read_timeout',
    'write_timeout',
  ] as const) {
    if (b[key] !== undefined && b[key] !== null) values[key] = b[key];
  }
  if (b.servers !== undefined) values.servers = namesFromLinks('server', 'servers', b.servers);
  for (const [k, v] of Object.entries(b.parameters ?? {}))
    if (!(k === 'replication_password' && v === null)) values[k] = v;
  return values;
}

/** The running monitor object behind `/monitors/{name}` (404 for an unknown name). */
function liveMonitor(weir: WeirContext, name: string) {
  const obj = weir.core.get('monitor', name);
  return weir.monitors.get(obj.name)!;
}

export const monitorHandlers: HandlerGroup<
  | 'listMonitors'
  | 'createMonitor'
  | 'getMonitor'
  | 'patchMonitor'
  | 'deleteMonitor'
  | 'startMonitor'
  | 'stopMonitor'
  | 'switchoverMonitor'
  | 'failoverMonitor'
  | 'rejoinMonitor'
  | 'releaseMonitorLocks'
> = {
  listMonitors: ({ weir }) => ({
    status: 200,
    body: weir.core.list('monitor').map((m) => monitorView(weir, m)),
    lastModified: weir.core.collectionLastModified('monitor'),
  }),

  createMonitor: ({ weir, body }) => {
    const obj = weir.core.create('monitor', body.name, monitorValues(body));
    return {
      status: 201,
      body: monitorView(weir, obj),
      location: link('monitor', obj.name),
      lastModified: obj.lastModified,
    };
  },

  getMonitor: ({ weir, params }) => {
    const obj = weir.core.get('monitor', params.name);
    return { status: 200, body: monitorView(weir, obj), lastModified: obj.lastModified };
  },

  patchMonitor: ({ weir, params, body }) => {
    const obj = weir.core.get('monitor', params.name);
    const after = applyResourcePatch(monitorView(weir, obj), body, {
      schema: 'Monitor',
      modifiable: (p) => MODIFIABLE.test(p),
      writeOnly: ['/password', '/parameters/replication_password'],
    });
    const values = monitorValues(after);
    delete values.module;
    const updated = weir.core.alter('monitor', obj.name, values);
    return { status: 200, body: monitorView(weir, updated), lastModified: updated.lastModified };
  },

  deleteMonitor: ({ weir, params }) => {
    weir.core.destroy('monitor', params.name);
    return { status: 204 };
  },

  startMonitor: ({ weir, params }) => {
    weir.core.setRunState('monitor', params.name, true);
    return { status: 204 };
  },

  stopMonitor: ({ weir, params }) => {
    weir.core.setRunState('monitor', params.name, false);
    return { status: 204 };
  },

  switchoverMonitor: async ({ weir, params, body }) => ({
    status: 200,
    body: await liveMonitor(weir, params.name).switchover(body?.new_primary, body?.old_primary),
  }),

  failoverMonitor: async ({ weir, params }) => ({ status: 200, body: await liveMonitor(weir, params.name).failover() }),

  rejoinMonitor: async ({ weir, params, body }) => ({
    status: 200,
    body: await liveMonitor(weir, params.name).rejoin(body.server),
  }),

  releaseMonitorLocks: async ({ weir, params }) => ({
    status: 200,
    body: { released: await liveMonitor(weir, params.name).releaseLocks(), primary: false },
  }),
};
