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

export interface BackendConnection {
  server: string;
  state: string;
  role: string;
  stats: ConnectionStats;
  /** Bytes written to the server that its socket has not taken yet (back-pressure, for the metrics). */
  bufferedBytes?(): number;
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
      (s) => s.backends[0] !== undefined && sameLower(s.backends[0].server, server),
    );
  }
  /** A deleted object's totals go with it: one created later under its name starts from zero. */
  forget(name: string): void {
    this.closedByService.delete(name.toLowerCase());
    this.closedByServer.delete(name.toLowerCase());
  }
  private totals(closed: Map<string, TrafficTotals>, name: string, open: (s: Session) => boolean): TrafficTotals {
    const t = { ...(closed.get(name.toLowerCase()) ?? { statements: 0, bytesIn: 0, bytesOut: 0, pauses: 0 }) };
    for (const s of this.sessions.values()) {
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
}

const sameLower = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

function addTo(map: Map<string, TrafficTotals>, name: string, s: Session): void {
  const key = name.toLowerCase();
  const t = map.get(key) ?? { statements: 0, bytesIn: 0, bytesOut: 0, pauses: 0 };
  t.statements += s.statementsRouted;
  t.bytesIn += s.bytesIn;
  t.bytesOut += s.bytesOut;
  t.pauses += pausesOf(s);
  map.set(key, t);
}

const pausesOf = (s: Session) => s.backends.reduce((n, b) => n + b.stats.high_water_events, 0);
