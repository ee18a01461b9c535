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
}

export class SessionRegistry {
  private readonly sessions = new Map<number, Session>();
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
    if (this.sessions.delete(id)) this.lastModified = new Date();
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
