import type { components } from '../../../generated/api.d.ts';
import type { WeirContext } from '../../context.ts';
import { forbidden, unprocessable } from '../../core/errors.ts';
import { stringList, type ConfigObject } from '../../core/objects.ts';
import { isoOrNull, link, links } from '../links.ts';
import { applyResourcePatch } from '../patch.ts';
import type { HandlerGroup } from '../types.ts';

type Server = components['schemas']['Server'];
type ServerState = components['schemas']['ServerState'];
const ADMIN_FLAGS = ['maintenance', 'draining'];

export function serverView(weir: WeirContext, obj: ConfigObject): Server {
  const facts = obj.runtime.facts;
  const admin = stringList(obj.params.state!);
  // Draining with no connections left is drained, as MaxScale shows it.
  const drained = admin.includes('draining') && obj.runtime.currentConnections === 0 && facts.flags.length > 0;
  const state = [...admin.map((f) => (f === 'draining' && drained ? 'drained' : f)), ...facts.flags] as ServerState[];
  return {
    name: obj.name,
    address: String(obj.params.address),
    port: Number(obj.params.port),
    protocol: 'MariaDBBackend',
    state,
    parameters: {
      ...obj.custom,
      rank: obj.params.rank as 'primary' | 'secondary',
      priority: Number(obj.params.priority),
    },
    services: links(
      'service',
      weir.core.servicesOfServer(obj.name).map((s) => s.name),
    ),
    monitors: links(
      'monitor',
      weir.core.monitorsOfServer(obj.name).map((m) => m.name),
    ),
    statistics: { connections: obj.runtime.currentConnections, total_connections: obj.runtime.totalConnections },
    server_id: facts.server_id,
    read_only: facts.read_only,
    version_string: facts.version_string,
    gtid_current_pos: facts.gtid_current_pos,
    gtid_binlog_pos: facts.gtid_binlog_pos,
    replication_lag: facts.replication_lag,
    replicates_from: facts.replicates_from ? link('server', facts.replicates_from) : null,
    last_event: facts.last_event,
    triggered_at: isoOrNull(facts.triggered_at),
  };
}

const MODIFIABLE = /^\/(address|port|state(\/.*)?|parameters(\/.*)?)$/;

/**
 * `maintenance --force` (PATCH ?force=yes, and the command API's `set server ... --force`):
 * every connection to the server now, not at each session's next safe point.
 */
export function closeForMaintenance(weir: WeirContext, server: string): void {
  const closed = weir.core.sessions.hangUpServer(server, `server '${server}' was put in maintenance`);
  weir.log.logger.notice(`server '${server}' put in maintenance with force: ${closed} connection(s) closed`);
}

export const serverHandlers: HandlerGroup<
  | 'listServers'
  | 'createServer'
  | 'getServer'
  | 'patchServer'
  | 'deleteServer'
  | 'listServerConnections'
  | 'closeServerConnections'
> = {
  listServers: ({ weir }) => ({
    status: 200,
    body: weir.core.list('server').map((s) => serverView(weir, s)),
    lastModified: weir.core.collectionLastModified('server'),
  }),

  createServer: ({ weir, body }) => {
    const { rank, priority, ...custom } = body.parameters ?? {};
    const values: Record<string, unknown> = { ...custom, address: body.address, port: body.port ?? 3306 };
    if (rank !== undefined) values.rank = rank;
    if (priority !== undefined) values.priority = priority;
    const obj = weir.core.create('server', body.name, values);
    return {
      status: 201,
      body: serverView(weir, obj),
      location: link('server', obj.name),
      lastModified: obj.lastModified,
    };
  },

  getServer: ({ weir, params }) => {
    const obj = weir.core.get('server', params.name);
    return { status: 200, body: serverView(weir, obj), lastModified: obj.lastModified };
  },

  patchServer: ({ weir, params, query, body }) => {
    const obj = weir.core.get('server', params.name);
    const before = serverView(weir, obj);
    const after = applyResourcePatch(before, body, { schema: 'Server', modifiable: (p) => MODIFIABLE.test(p) });
    // The monitor's flags must come back unchanged; only the administrative ones may move.
    const isAdmin = (f: string) => ADMIN_FLAGS.includes(f) || f === 'drained';
    const moved = [...before.state, ...after.state].find(
      (f) => !isAdmin(f) && before.state.includes(f) !== after.state.includes(f),
    );
    if (moved)
      throw forbidden(
        `State '${moved}' is set by the monitor, not by clients; only maintenance and draining can be changed. Nothing was changed.`,
      );
    const adminState = after.state.filter(isAdmin).map((f) => (f === 'drained' ? 'draining' : f));
    const force = query.force === 'yes';
    if (force && !adminState.includes('maintenance'))
      throw unprocessable(
        `force=yes closes the connections of a server in maintenance, and this patch leaves '${obj.name}' out of maintenance; nothing was changed.`,
        [{ path: '/state', message: 'must include maintenance with force=yes' }],
      );
    const { rank, priority, ...custom } = after.parameters;
    const updated = weir.core.alter(
      'server',
      obj.name,
      { address: after.address, port: after.port, rank, priority },
      { custom, adminState },
    );
    if (force) closeForMaintenance(weir, updated.name);
    return { status: 200, body: serverView(weir, updated), lastModified: updated.lastModified };
  },

  deleteServer: ({ weir, params }) => {
    weir.core.destroy('server', params.name);
    return { status: 204 };
  },

  listServerConnections: ({ weir, params }) => {
    const server = weir.core.get('server', params.name);
    const sessions = weir.core.sessions.usingServer(server.name);
    return {
      status: 200,
      body: sessions.flatMap((s) =>
        s.backends
          .filter((b) => b.server.toLowerCase() === server.name.toLowerCase())
          .map((b) => ({
            state: b.state,
            role: b.role,
            server: link('server', server.name),
            service: link('service', s.service),
            session: `/sessions/${s.id}`,
            statistics: { ...b.stats },
          })),
      ),
      lastModified: weir.core.sessions.lastModified,
    };
  },

  closeServerConnections: ({ weir, params }) => {
    const server = weir.core.get('server', params.name);
    for (const session of weir.core.sessions.usingServer(server.name))
      session.close(`connections to server '${server.name}' closed by an administrator`);
    return { status: 204 };
  },
};
