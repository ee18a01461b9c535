/**
 * The data plane's sockets: one TCP server per listener, bound while its service is
 * started, each accepted client becoming a ClientSession. Follows the core: listeners
 * created or deleted at runtime bind and unbind their ports, a stopped service stops
 * accepting (its sessions carry on), and what the monitor finds out about a server is
 * passed on to the router sessions using it.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import { ConfigError } from '../config/ini.ts';
import type { Core } from '../core/core.ts';
import { unprocessable } from '../core/errors.ts';
import { sameName, type ConfigObject } from '../core/objects.ts';
import type { WeirLogger } from '../log/logger.ts';
import { ClientSession, type SessionDeps } from './client-session.ts';
import type { Filters } from './filters/registry.ts';
import { errPacket } from './protocol/packets.ts';
import { ServiceAccounts } from './service-accounts.ts';
import type { ServerEvent } from './routing/router.ts';

export class Listeners {
  private readonly servers = new Map<string, Server>();
  private readonly accounts = new Map<string, ServiceAccounts>();
  /** Servers last seen as the primary, to notice when one stops being it. */
  private readonly masters = new Set<string>();

  constructor(
    private readonly core: Core,
    private readonly logger: WeirLogger,
    private readonly refreshSeconds: () => number,
    private readonly filters: Filters,
  ) {
    core.on('created', (obj) => {
      if (obj.kind === 'listener') void this.bind(obj).catch((err) => this.bindFailed(obj, err));
    });
    core.on('destroyed', (obj) => {
      if (obj.kind === 'listener') this.unbind(obj);
      if (obj.kind === 'service') this.accounts.delete(obj.name.toLowerCase());
    });
    core.on('changed', (obj) => {
      if (obj.kind === 'service') this.followService(obj);
      if (obj.kind === 'service') this.accounts.delete(obj.name.toLowerCase()); // user/password/servers may have changed
      // Maintenance, draining and rank are set through the core, not found by the monitor:
      // the sessions on the server hear of them as of any other change.
      if (obj.kind === 'server') this.tell(obj, 'changed');
    });
    core.on('touched', (obj) => {
      if (obj.kind !== 'server') return;
      const flags = obj.runtime.facts.flags;
      // Each session's router decides what a server event means for it: readconnroute closes
      // sessions on a server that is down (or, for `master` services, no longer the primary);
      // readwritesplit drops that backend and carries on where it can.
      const wasMaster = this.masters.has(obj.name);
      let event: ServerEvent = 'changed';
      if (flags.includes('master')) this.masters.add(obj.name);
      else if (wasMaster) {
        this.masters.delete(obj.name);
        event = 'lost_master';
      }
      if (flags.includes('down')) event = 'down';
      this.tell(obj, event);
    });
  }

  /** Tells each session using `server` what happened to it. */
  private tell(server: ConfigObject, event: ServerEvent): void {
    for (const s of this.core.sessions.usingServer(server.name)) {
      // One session that cannot take the news must not spare the others.
      try {
        if (s instanceof ClientSession) s.serverChanged(server, event);
        else if (event === 'down') s.close(`server '${server.name}' is down`);
      } catch (err) {
        s.close(`server '${server.name}': ${event}`);
        this.logger.error(
          { session: s.id, err: (err as Error).stack },
          `session ${s.id} could not be told about server '${server.name}': ${(err as Error).message}`,
        );
      }
    }
  }

  /**
   * Starts a service: its listeners are bound first, and only when every one of them is
   * listening is the started state persisted. A listener that cannot bind fails alone and
   * visibly: its state shows `failed`, the others of the service are unbound again, the
   * service stays as it was, and the error names the listener and the reason. Starting a
   * started service binds those of its listeners that are not listening (a retry).
   */
  async startService(name: string): Promise<void> {
    const service = this.core.get('service', name);
    const bound: ConfigObject[] = [];
    const failed: Array<{ listener: ConfigObject; reason: string }> = [];
    for (const listener of this.core.listenersOfService(service.name)) {
      if (this.servers.has(listener.name.toLowerCase())) continue;
      try {
        await this.bind(listener);
        bound.push(listener);
      } catch (err) {
        this.bindFailed(listener, err);
        failed.push({ listener, reason: describe(err) });
      }
    }
    const wasStarted = service.params.state === 'started';
    if (failed.length) {
      if (!wasStarted) for (const l of bound) this.unbind(l);
      const what = failed.map(
        ({ listener: l, reason }) =>
          `listener '${l.name}' cannot listen on ${l.params.address} port ${l.params.port}: ${reason}`,
      );
      throw unprocessable(
        `Service '${service.name}' ${wasStarted ? 'is started, but' : 'was not started:'} ${what.join('; ')}.`,
        failed.map(({ listener: l, reason }) => ({ path: `/listeners/${l.name}/port`, message: reason })),
      );
    }
    try {
      this.core.setRunState('service', service.name, true);
    } catch (err) {
      if (!wasStarted) for (const l of bound) this.unbind(l);
      throw err;
    }
  }

  /**
   * Binds every listener of a started service at Weir's start. As MaxScale ("Failed to
   * start all MaxScale services. Exiting."), a listener that cannot bind stops the start,
   * with the file, section and key: the configuration checks refuse every conflict between
   * Weir's own sockets, so what remains is the machine (a port another process holds).
   */
  async startAll(): Promise<void> {
    for (const listener of this.core.list('listener')) {
      const service = this.core.find('service', String(listener.params.service));
      if (service?.params.state !== 'started') continue;
      try {
        await this.bind(listener);
      } catch (err) {
        const src = listener.source;
        const tlsProblem = /ssl|TLS/.test((err as Error).message);
        throw new ConfigError(
          src.type === 'static' ? src.file : 'runtime',
          src.type === 'static' ? src.line : 0,
          tlsProblem
            ? (err as Error).message
            : `cannot listen on ${listener.params.address} port ${listener.params.port}: ${describe(err)}`,
          listener.name,
          tlsProblem ? 'ssl_cert' : 'port',
        );
      }
    }
  }

  /** For a listener about to be created: 422 when its TLS files or its port are unusable (nothing is created). */
  async assertUsable(listener: ConfigObject): Promise<void> {
    const address = String(listener.params.address);
    const port = Number(listener.params.port);
    try {
      tlsContext(listener);
    } catch (err) {
      throw unprocessable(`Listener '${listener.name}': ${(err as Error).message}.`, [
        { path: '/ssl_cert', message: (err as Error).message },
      ]);
    }
    const probe = createServer();
    try {
      await listen(probe, address, port);
    } catch (err) {
      throw unprocessable(`Cannot listen on ${address} port ${port}: ${describe(err)}.`, [
        { path: '/port', message: describe(err) },
      ]);
    } finally {
      probe.close();
    }
  }

  /** Sessions and their timeouts: closes sessions idle for longer than their service allows. */
  closeIdleSessions(): void {
    const now = Date.now();
    // Each service's timeout once per sweep, not once per session; with none set (the
    // default) the sweep costs nothing however many sessions are open.
    const timeouts = new Map<string, number>();
    for (const service of this.core.list('service')) {
      const timeout = Number(service.params.connection_timeout ?? 0);
      if (timeout > 0) timeouts.set(service.name.toLowerCase(), timeout * 1000);
    }
    if (timeouts.size === 0) return;
    for (const session of this.core.sessions.list()) {
      const timeout = timeouts.get(session.service.toLowerCase()) ?? 0;
      if (timeout > 0 && now - session.lastActivity > timeout && session instanceof ClientSession) {
        // One session that cannot be timed out must not spare the others (nor escape the timer).
        try {
          session.timeOut();
        } catch (err) {
          session.close('idle for longer than connection_timeout');
          this.logger.error(
            { session: session.id, err: (err as Error).stack },
            `session ${session.id} could not be timed out: ${(err as Error).message}`,
          );
        }
      }
    }
  }

  async stopAll(): Promise<void> {
    for (const server of this.servers.values()) server.close();
    this.servers.clear();
    for (const s of this.core.sessions.list()) s.close('Weir is stopping');
  }

  private accountsOf(service: ConfigObject): ServiceAccounts {
    const key = service.name.toLowerCase();
    let a = this.accounts.get(key);
    if (!a) this.accounts.set(key, (a = new ServiceAccounts(this.core, service, this.logger, this.refreshSeconds)));
    return a;
  }

  private async bind(listener: ConfigObject): Promise<void> {
    const key = listener.name.toLowerCase();
    if (this.servers.has(key)) return;
    const tls = tlsContext(listener);
    // One set of session dependencies per listener and service accounts, not an object per session.
    let deps: SessionDeps | null = null;
    const server = createServer({ noDelay: true }, (socket) => {
      // Until a session owns the socket: an 'error' event nobody listens to ends the process.
      socket.on('error', ignore);
      try {
        const service = this.core.find('service', String(listener.params.service));
        if (!service || service.params.state !== 'started') {
          this.core.traffic.rejected(listener.name, 'service_stopped');
          socket.end(errPacket(0, 1927, '08S01', 'The service is stopped'));
          return;
        }
        this.core.traffic.accepted(listener.name);
        const accounts = this.accountsOf(service);
        if (deps?.accounts !== accounts)
          deps = { core: this.core, logger: this.logger, accounts, tls, filters: this.filters };
        const session = new ClientSession(deps, service, socket);
        // The session listens for errors now (a listener kept per socket costs memory with thousands).
        socket.off('error', ignore);
        session.start();
      } catch (err) {
        socket.destroy();
        this.logger.error(
          { listener: listener.name, err: (err as Error).stack },
          `listener '${listener.name}' could not start a session: ${(err as Error).message}`,
        );
      }
    });
    this.servers.set(key, server);
    try {
      await listen(server, String(listener.params.address), Number(listener.params.port));
    } catch (err) {
      this.servers.delete(key);
      throw err;
    }
    // Once listening, an error (EMFILE when accepting, say) is logged; without a listener it would end the process.
    server.on('error', (err) =>
      this.logger.error({ listener: listener.name }, `listener '${listener.name}': ${describe(err)}`),
    );
    listener.runtime.listenerState = 'running';
    this.core.touch(listener);
    this.logger.notice(
      { listener: listener.name },
      `listener '${listener.name}' listening on ${listener.params.address} port ${listener.params.port}`,
    );
  }

  private unbind(listener: ConfigObject): void {
    const key = listener.name.toLowerCase();
    const server = this.servers.get(key);
    server?.close();
    this.servers.delete(key);
    // A listener that failed to bind keeps showing it until it binds.
    if (server || listener.runtime.listenerState !== 'failed') listener.runtime.listenerState = null;
  }

  private followService(service: ConfigObject): void {
    for (const listener of this.core.list('listener')) {
      if (!sameName(String(listener.params.service), service.name)) continue;
      if (service.params.state === 'started') void this.bind(listener).catch((err) => this.bindFailed(listener, err));
      else {
        this.unbind(listener);
        this.core.touch(listener);
      }
    }
  }

  private bindFailed(listener: ConfigObject, err: unknown): void {
    if (this.core.find('listener', listener.name) !== listener) return; // deleted meanwhile
    listener.runtime.listenerState = 'failed';
    this.core.touch(listener);
    this.logger.error(
      { listener: listener.name },
      `listener '${listener.name}' cannot listen on ${listener.params.address} port ${listener.params.port}: ${describe(err)}`,
    );
  }
}

/** The listener's TLS context when `ssl=true`; throws when its files are missing or unreadable. */
const ignore = (): void => undefined;

function tlsContext(listener: ConfigObject): SecureContext | null {
  const p = listener.params;
  if (p.ssl !== true) return null;
  if (!p.ssl_cert || !p.ssl_key) throw new Error('ssl=true needs ssl_cert and ssl_key');
  try {
    return createSecureContext({
      cert: readFileSync(String(p.ssl_cert)),
      key: readFileSync(String(p.ssl_key)),
      ...(p.ssl_ca_cert ? { ca: readFileSync(String(p.ssl_ca_cert)) } : {}),
    });
  } catch (err) {
    throw new Error(`its TLS files cannot be used: ${(err as Error).message}`, { cause: err });
  }
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'EADDRINUSE') return 'the port is already in use';
  if (e.code === 'EACCES') return 'permission denied';
  if (e.code === 'EADDRNOTAVAIL') return 'the address is not on this machine';
  return e.message ?? String(err);
}
