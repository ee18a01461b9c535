import type { components } from '../../../generated/api.d.ts';
import { notFound } from '../../core/errors.ts';
import type { Session } from '../../core/sessions.ts';
import type { WeirContext } from '../../context.ts';
import { iso, link, sessionLink } from '../links.ts';
import type { HandlerGroup } from '../types.ts';

type SessionView = components['schemas']['Session'];
type Connection = components['schemas']['Connection'];

/**
 * A session's connect time never changes; formatting it once matters with thousands of
 * sessions listed (GET /sessions with 9,000 of them spent a third of its time in toISOString).
 */
const connectedText = new WeakMap<Date, string>();

export function sessionView(s: Session): SessionView {
  let connected = connectedText.get(s.connected);
  if (connected === undefined) connectedText.set(s.connected, (connected = iso(s.connected)));
  return {
    id: s.id,
    state: s.state,
    user: s.user,
    address: s.address,
    port: s.port,
    service: link('service', s.service),
    servers: s.backends.map((b) => link('server', b.server)),
    connected,
    idle: Math.max(0, (Date.now() - s.lastActivity) / 1000),
    default_db: s.defaultDb,
    statements_routed: s.statementsRouted,
    bytes_in: s.bytesIn,
    bytes_out: s.bytesOut,
    ...routerDiagnostics(s),
  };
}

function routerDiagnostics(s: Session): Pick<SessionView, 'router_diagnostics'> {
  const state = s.routerState?.() ?? null;
  return state ? { router_diagnostics: state } : {};
}

export function connectionViews(s: Session): Connection[] {
  return s.backends.map((b) => ({
    state: b.state,
    role: b.role,
    server: link('server', b.server),
    service: link('service', s.service),
    session: sessionLink(s.id),
    statistics: { ...b.stats },
  }));
}

function sessionOf(weir: WeirContext, id: number): Session {
  const s = weir.core.sessions.get(id);
  if (!s) throw notFound(`There is no session with id ${id}.`);
  return s;
}

export const sessionHandlers: HandlerGroup<'listSessions' | 'getSession' | 'closeSession' | 'listSessionConnections'> =
  {
    listSessions: ({ weir }) => ({
      status: 200,
      body: weir.core.sessions.list().map(sessionView),
      lastModified: weir.core.sessions.lastModified,
    }),

    getSession: ({ weir, params }) => {
      const s = sessionOf(weir, params.id);
      return { status: 200, body: sessionView(s), lastModified: s.lastModified };
    },

    closeSession: ({ weir, params }) => {
      sessionOf(weir, params.id).close('closed by an administrator');
      return { status: 204 };
    },

    listSessionConnections: ({ weir, params }) => {
      const s = sessionOf(weir, params.id);
      return { status: 200, body: connectionViews(s), lastModified: s.lastModified };
    },
  };
