import type { components } from '../../../generated/api.d.ts';
import { notFound } from '../../core/errors.ts';
import type { Session } from '../../core/sessions.ts';
import type { WeirContext } from '../../context.ts';
import { link, sessionLink } from '../links.ts';
import { project, type Projection } from '../projection.ts';
import { sessionFields, sessionJson, sessionsListing, sessionView, topLevelFields } from '../session-json.ts';
import type { HandlerGroup } from '../types.ts';

type Connection = components['schemas']['Connection'];

/** `fields`/`range` of sessions, building only the fields asked for (null: the generic projection does it). */
function selectSessions(list: Session[], now: number, p: Projection): unknown {
  const rows = p.range ? list.slice(p.range[0], p.range[1] + 1) : list;
  const names = p.fields ? topLevelFields(p.fields) : null;
  if (p.fields && !names)
    return project(
      rows.map((s) => sessionView(s, now)),
      { fields: p.fields, range: null },
    );
  return rows.map((s) => (names ? sessionFields(s, now, names) : sessionView(s, now)));
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
    listSessions: ({ weir }) => {
      // One clock reading for the whole answer: its text, its objects and its projection agree.
      const now = Date.now();
      const list = weir.core.sessions.list();
      // The ETag and the bytes are made when the app asks, in one synchronous send; the bytes only
      // for a full answer (a 304 or a projection needs the ETag only).
      const listing = sessionsListing(list, now);
      return {
        status: 200,
        // Objects only for who needs them (the validator in tests, a nested projection).
        get body() {
          return list.map((s) => sessionView(s, now));
        },
        get etag() {
          return listing.etag;
        },
        get text() {
          return listing.json();
        },
        release: () => listing.release(),
        select: (p) => selectSessions(list, now, p),
        lastModified: weir.core.sessions.lastModified,
      };
    },

    getSession: ({ weir, params }) => {
      const s = sessionOf(weir, params.id);
      const now = Date.now();
      return {
        status: 200,
        body: sessionView(s, now),
        text: sessionJson(s, now),
        lastModified: s.lastModified,
      };
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
