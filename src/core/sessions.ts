/**
 * Client sessions and their backend connections. The data plane registers them here;
 * the REST and command APIs read and close them through this registry only.
 */
export interface ConnectionStats {
  reads: number;
  writes: number;
  buffered_writes: number;
  high_water_events: number;
  low_water_events: number;
}

/** What a statement-routing router shows of one session (readwritesplit's transaction state). */
export interface SessionRouterState {
  /** The open transaction: none, read_write or read_only. */
  transaction: 'none' | 'read_write' | 'read_only';
  /** Statements of the open transaction kept for transaction_replay (0 when replay is off). */
  transaction_statements: number;
  /** Whether the open transaction could be replayed now; null when transaction_replay is off or none is open. */
  replayable: boolean | null;
  /** A transaction replay is running. */
  replaying: boolean;
  /** The server the session uses as its primary, or null. */
  primary: string | null;
  /** Session commands kept for connections opened later. */
  sescmd_history_length: number;
  /** GTIDs of the session's last writes, per domain (tracked when causal_reads is on), or null. */
  last_gtid: string | null;
}

export interface BackendConnection {
  server: string;
  state: string;
  role: string;
  stats: ConnectionStats;
  /** Bytes written to the server that its socket has not taken yet (back-pressure, for the metrics). */
  bufferedBytes?(): number;
  /**
   * Closes this connection now, as a server that went away would: its router decides what the
   * session does (readwritesplit goes on without it where it can, readconnroute ends).
   */
  hangup?(reason: string): void;
}

/** The client side's back-pressure now (for the metrics). */
export interface ClientFlow {
  /** Reads from the client are paused (its server or a filter is behind). */
  paused: boolean;
  /** Bytes for the client that its socket has not taken yet. */
  buffered: number;
}

export interface Session {
  readonly id: number;
  readonly service: string;
  readonly user: string;
  readonly address: string;
  readonly port: number;
  readonly connected: Date;
  state: string;
  /** When the client last sent anything (epoch ms: set on every read, so no Date per packet). */
  lastActivity: number;
  defaultDb: string | null;
  statementsRouted: number;
  bytesIn: number;
  bytesOut: number;
  lastModified: Date;
  backends: BackendConnection[];
  /**
   * Traffic by the server that answered (by its name as configured), for routers that spread one session
   * over several servers (readwritesplit). Without it the session's traffic is its first backend's.
   */
  byServer?: Map<string, TrafficTotals>;
  /** The router's view of the session, for routers that have one (readwritesplit). */
  routerState?(): SessionRouterState | null;
  /** Closes the client and backend sockets now. */
  close(reason: string): void;
  flow?(): ClientFlow;
}

/** What closed sessions carried, kept per service and per server so totals never go back. */
export interface TrafficTotals {
  statements: number;
  bytesIn: number;
  bytesOut: number;
  /** Times a server's reads were paused because the client read slower (high_water_events). */
  pauses: number;
}

export class SessionRegistry {
  private readonly sessions = new Map<number, Session>();
  private readonly closedByService = new Map<string, TrafficTotals>();
  private readonly closedByServer = new Map<string, TrafficTotals>();
  private nextId = 1;
  /** When a session was last added or removed (for Last-Modified of the collection). */
  lastModified = new Date();

  allocateId(): number {
    return this.nextId++;
  }
  add(session: Session): void {
    this.sessions.set(session.id, session);
    this.lastModified = new Date();
  }
  remove(id: number): void {
    const session = this.sessions.get(id);
    if (!session) return;
    this.sessions.delete(id);
    this.lastModified = new Date();
    addTo(this.closedByService, session.service, session);
    if (session.byServer) {
      for (const [server, t] of session.byServer)
        addTo(this.closedByServer, server, { ...t, pauses: pausesOf(session, server) });
      return;
    }
    const server = session.backends[0]?.server;
    if (server) addTo(this.closedByServer, server, session);
  }
  /** Statements and bytes of a service's sessions so far, open and closed. */
  serviceTotals(service: string): TrafficTotals {
    return this.totals(this.closedByService, service, (s) => sameLower(s.service, service));
  }
  /** The same for a server, counted by the server each session was routed to. */
  serverTotals(server: string): TrafficTotals {
    return this.totals(
      this.closedByServer,
      server,
      (s) => !s.byServer && s.backends[0] !== undefined && sameLower(s.backends[0].server, server),
      (s) => {
        if (!s.byServer) return undefined;
        for (const [name, t] of s.byServer) if (sameLower(name, server)) return t;
        return { statements: 0, bytesIn: 0, bytesOut: 0, pauses: 0 };
      },
    );
  }
  /** A deleted object's totals go with it: one created later under its name starts from zero. */
  forget(name: string): void {
    this.closedByService.delete(name.toLowerCase());
    this.closedByServer.delete(name.toLowerCase());
  }
  private totals(
    closed: Map<string, TrafficTotals>,
    name: string,
    open: (s: Session) => boolean,
    part: (s: Session) => TrafficTotals | undefined = () => undefined,
  ): TrafficTotals {
    const t = { ...(closed.get(name.toLowerCase()) ?? { statements: 0, bytesIn: 0, bytesOut: 0, pauses: 0 }) };
    for (const s of this.sessions.values()) {
      const p = part(s);
      if (p) {
        t.statements += p.statements;
        t.bytesIn += p.bytesIn;
        t.bytesOut += p.bytesOut;
        t.pauses += pausesOf(s, name);
        continue;
      }
      if (!open(s)) continue;
      t.statements += s.statementsRouted;
      t.bytesIn += s.bytesIn;
      t.bytesOut += s.bytesOut;
      t.pauses += pausesOf(s);
    }
    return t;
  }
  get(id: number): Session | undefined {
    return this.sessions.get(id);
  }
  list(): Session[] {
    return [...this.sessions.values()];
  }
  ofService(service: string): Session[] {
    const lower = service.toLowerCase();
    return this.list().filter((s) => s.service.toLowerCase() === lower);
  }
  usingServer(server: string): Session[] {
    const lower = server.toLowerCase();
    return this.list().filter((s) => s.backends.some((b) => b.server.toLowerCase() === lower));
  }
  /**
   * Closes every connection to `server` now (MaxScale's `set server ... maintenance --force`);
   * how many were closed. Connections that cannot be hung up alone close their session.
   */
  hangUpServer(server: string, reason: string): number {
    const lower = server.toLowerCase();
    let closed = 0;
    for (const session of this.usingServer(server)) {
      const to = session.backends.filter((b) => b.server.toLowerCase() === lower && b.state !== 'Closed');
      closed += to.length;
      if (to.every((b) => b.hangup)) for (const b of to) b.hangup!(reason);
      else session.close(reason);
    }
    return closed;
  }
}

const sameLower = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

function addTo(map: Map<string, TrafficTotals>, name: string, s: Session | TrafficTotals): void {
  const key = name.toLowerCase();
  const t = map.get(key) ?? { statements: 0, bytesIn: 0, bytesOut: 0, pauses: 0 };
  t.statements += 'statementsRouted' in s ? s.statementsRouted : s.statements;
  t.bytesIn += s.bytesIn;
  t.bytesOut += s.bytesOut;
  t.pauses += 'statementsRouted' in s ? pausesOf(s) : s.pauses;
  map.set(key, t);
}

/** Back-pressure pauses of a session's backends (those on one server, when named). */
const pausesOf = (s: Session, server?: string) =>
  s.backends.reduce((n, b) => (server && !sameLower(b.server, server) ? n : n + b.stats.high_water_events), 0);
