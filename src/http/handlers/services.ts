import type { components } from '../../../generated/api.d.ts';
import type { WeirContext } from '../../context.ts';
import { notFound, unprocessable } from '../../core/errors.ts';
import { resetServiceGtids } from '../../proxy/routing/readwritesplit/causal-reads.ts';
import { findModule } from '../../core/modules.ts';
import {
  newRouterStatistics,
  sameName,
  stringList,
  type ConfigObject,
  type RouterStatistics,
} from '../../core/objects.ts';
import { isoOrNull, link, links, listenerLink, namesFromLinks, sessionLink } from '../links.ts';
import { applyResourcePatch } from '../patch.ts';
import type { HandlerGroup } from '../types.ts';

type Service = components['schemas']['Service'];
type Listener = components['schemas']['Listener'];
type RouterOption = components['schemas']['RouterOption'];

type Diagnostics = components['schemas']['RouterDiagnostics'];

/** The router's own parameters, as its module declares them (router_options is shown apart). */
function routerParameters(obj: ConfigObject): Service['parameters'] {
  const defs = findModule(String(obj.params.router))?.parameters ?? [];
  return Object.fromEntries(
    defs.filter((d) => d.name !== 'router_options').map((d) => [d.name, obj.params[d.name] ?? null]),
  ) as Service['parameters'];
}

function diagnosticsView(stats: RouterStatistics): Diagnostics {
  const { servers, ...counts } = stats;
  return { ...counts, server_query_statistics: [...servers].map(([id, s]) => ({ id, ...s })) };
}

export function serviceView(weir: WeirContext, obj: ConfigObject): Service {
  const p = obj.params;
  const router = String(p.router) === 'readwritesplit' ? 'readwritesplit' : 'readconnroute';
  return {
    name: obj.name,
    router,
    router_options: stringList(p.router_options!) as RouterOption[],
    state: p.state === 'stopped' ? 'stopped' : 'started',
    started: isoOrNull(obj.runtime.started),
    total_connections: obj.runtime.totalConnections,
    current_connections: obj.runtime.currentConnections,
    servers: links('server', stringList(p.servers!)),
    filters: links('filter', stringList(p.filters!)),
    listeners: weir.core.listenersOfService(obj.name).map((l) => listenerLink(obj.name, l.name)),
    user: String(p.user),
    root_user: p.root_user === true,
    version_string: (p.version_string as string | null) ?? null,
    weightby: (p.weightby as string | null) ?? null,
    connection_timeout: Number(p.connection_timeout),
    max_connections: Number(p.max_connections),
    strip_db_esc: p.strip_db_esc === true,
    parameters: routerParameters(obj),
    router_diagnostics:
      router === 'readwritesplit' ? diagnosticsView(obj.runtime.router ?? newRouterStatistics()) : null,
  };
}

export function listenerView(weir: WeirContext, obj: ConfigObject): Listener {
  const service = weir.core.find('service', String(obj.params.service));
  // Until the data plane binds listeners they are only created; a stopped service's are
  // stopped, unless their last bind failed (a start refused for it says so too).
  const bindState = obj.runtime.listenerState;
  const state =
    bindState === 'failed' ? 'failed' : service?.params.state === 'stopped' ? 'stopped' : (bindState ?? 'created');
  return {
    name: obj.name,
    service: link('service', service?.name ?? String(obj.params.service)),
    protocol: 'MariaDBClient',
    address: String(obj.params.address),
    port: Number(obj.params.port),
    state,
    ssl: obj.params.ssl === true,
    ssl_cert: (obj.params.ssl_cert as string | null) ?? null,
    ssl_key: (obj.params.ssl_key as string | null) ?? null,
    ssl_ca_cert: (obj.params.ssl_ca_cert as string | null) ?? null,
  };
}

const MODIFIABLE =
  /^\/(servers|router_options|filters|user|password|root_user|version_string|weightby|connection_timeout|max_connections|strip_db_esc|parameters)(\/.*)?$/;

/** Service-level values from a create body or a patched representation. */
function serviceValues(b: Partial<Service> & { password?: string; router?: string }): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  const copy = [
    'router',
    'user',
    'password',
    'router_options',
    'root_user',
    'version_string',
    'weightby',
    'connection_timeout',
    'max_connections',
    'strip_db_esc',
  ] as const;
  for (const key of copy) if (b[key] !== undefined) values[key] = b[key];
  if (b.servers !== undefined) values.servers = namesFromLinks('server', 'servers', b.servers);
  if (b.filters !== undefined) values.filters = namesFromLinks('filter', 'filters', b.filters);
  if (b.parameters) Object.assign(values, b.parameters);
  // router_options belongs to readconnroute; other routers show it empty.
  if (
    b.router !== undefined &&
    b.router !== 'readconnroute' &&
    Array.isArray(values.router_options) &&
    values.router_options.length === 0
  )
    delete values.router_options;
  return values;
}

function listenerOf(weir: WeirContext, service: string, listener: string): ConfigObject {
  const svc = weir.core.get('service', service);
  const obj = weir.core.find('listener', listener);
  if (!obj || !sameName(String(obj.params.service), svc.name))
    throw notFound(`Service '${svc.name}' has no listener named '${listener}'.`);
  return obj;
}

export const serviceHandlers: HandlerGroup<
  | 'listServices'
  | 'createService'
  | 'getService'
  | 'patchService'
  | 'deleteService'
  | 'startService'
  | 'stopService'
  | 'resetServiceGtid'
  | 'listServiceListeners'
  | 'createServiceListener'
  | 'getServiceListener'
  | 'deleteServiceListener'
  | 'listServiceSessions'
  | 'closeServiceSessions'
> = {
  listServices: ({ weir }) => ({
    status: 200,
    body: weir.core.list('service').map((s) => serviceView(weir, s)),
    lastModified: weir.core.collectionLastModified('service'),
  }),

  createService: ({ weir, body }) => {
    const obj = weir.core.create('service', body.name, serviceValues(body));
    return {
      status: 201,
      body: serviceView(weir, obj),
      location: link('service', obj.name),
      lastModified: obj.lastModified,
    };
  },

  getService: ({ weir, params }) => {
    const obj = weir.core.get('service', params.name);
    return { status: 200, body: serviceView(weir, obj), lastModified: obj.lastModified };
  },

  patchService: ({ weir, params, body }) => {
    const obj = weir.core.get('service', params.name);
    const after = applyResourcePatch(serviceView(weir, obj), body, {
      schema: 'Service',
      modifiable: (p) => MODIFIABLE.test(p),
      writeOnly: ['/password'],
    });
    const values = serviceValues(after);
    delete values.router;
    if (after.password === null) delete values.password;
    const updated = weir.core.alter('service', obj.name, values);
    return { status: 200, body: serviceView(weir, updated), lastModified: updated.lastModified };
  },

  deleteService: ({ weir, params, query }) => {
    weir.core.destroy('service', params.name, query.force === 'yes');
    return { status: 204 };
  },

  startService: async ({ weir, params }) => {
    await weir.listeners.startService(params.name);
    return { status: 204 };
  },

  stopService: ({ weir, params }) => {
    weir.core.setRunState('service', params.name, false);
    return { status: 204 };
  },

  resetServiceGtid: ({ weir, params }) => {
    const svc = weir.core.get('service', params.name);
    if (svc.params.router !== 'readwritesplit')
      throw unprocessable(
        `reset-gtid is a readwritesplit command, and service '${svc.name}' uses ${String(svc.params.router)}; nothing was changed.`,
        [{ path: '/router', message: 'must be readwritesplit' }],
      );
    // No statistics yet: no session has routed anything, so there is nothing to forget.
    if (svc.runtime.router) resetServiceGtids(svc.runtime.router);
    weir.log.logger.notice({ service: svc.name }, `service '${svc.name}': the GTIDs of causal_reads were reset`);
    return { status: 204 };
  },

  listServiceListeners: ({ weir, params }) => {
    const svc = weir.core.get('service', params.name);
    const listeners = weir.core.listenersOfService(svc.name);
    return {
      status: 200,
      body: listeners.map((l) => listenerView(weir, l)),
      lastModified: [svc.lastModified, weir.core.collectionLastModified('listener')].reduce((a, b) => (a > b ? a : b)),
    };
  },

  createServiceListener: async ({ weir, params, body }) => {
    const svc = weir.core.get('service', params.name);
    const { name, ...rest } = body;
    const values = { ...rest, service: svc.name };
    // Checked in full, then the port is tried, and only then is anything created.
    const candidate = weir.core.prepare('listener', name, values);
    await weir.listeners.assertUsable(candidate);
    const obj = weir.core.create('listener', name, values);
    return {
      status: 201,
      body: listenerView(weir, obj),
      location: listenerLink(svc.name, obj.name),
      lastModified: obj.lastModified,
    };
  },

  getServiceListener: ({ weir, params }) => {
    const obj = listenerOf(weir, params.name, params.listener);
    return { status: 200, body: listenerView(weir, obj), lastModified: obj.lastModified };
  },

  deleteServiceListener: ({ weir, params }) => {
    const obj = listenerOf(weir, params.name, params.listener);
    weir.core.destroy('listener', obj.name);
    return { status: 204 };
  },

  listServiceSessions: ({ weir, params }) => {
    const svc = weir.core.get('service', params.name);
    return {
      status: 200,
      body: weir.core.sessions.ofService(svc.name).map((s) => sessionLink(s.id)),
      lastModified: weir.core.sessions.lastModified,
    };
  },

  closeServiceSessions: ({ weir, params }) => {
    const svc = weir.core.get('service', params.name);
    for (const session of weir.core.sessions.ofService(svc.name))
      session.close(`sessions of service '${svc.name}' closed by an administrator`);
    return { status: 204 };
  },
};
