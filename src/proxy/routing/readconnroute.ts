/**
 * readconnroute: connection-level load balancing. One server per session, picked at connect
 * time (select-server.ts); every client byte goes to it and every byte of its replies to the
 * client. Without filters or watchers this is a pass-through: client reads are written to
 * the backend as they are, with no per-packet work. Two commands never reach it as they
 * came: COM_CHANGE_USER (checked, then re-tokened here) and KILL of a Weir session id, which
 * the client session runs itself (kill-request.ts), as MaxScale's protocol does for every router.
 */
import { sameName, stringList, type ConfigObject } from '../../core/objects.ts';
import { Backend, BackendError, type BackendOwner } from '../backend.ts';
import { writeChangeUser, type ChangeUser } from '../protocol/change-user.ts';
import { tokenFor } from '../protocol/native-password.ts';
import { Command } from '../protocol/commands.ts';
import type { Reply } from '../protocol/reply-tracker.ts';
import type { Hint, Router, RouterSession, ServerEvent, SessionHandle } from './router.ts';
import { selectServer } from './select-server.ts';
import { registerKillable, unregisterKillable } from './kill.ts';

class ReadConnRouteSession implements RouterSession, BackendOwner {
  readonly passthrough = true;
  private backend: Backend | null = null;
  private closed = false;

  constructor(private readonly s: SessionHandle) {}

  async open(): Promise<void> {
    const server = selectServer(this.s.service, this.s.servers());
    if (!server) {
      const options = stringList(this.s.service.params.router_options!).join(',');
      throw new BackendError(
        2003,
        'HY000',
        `No server of service '${this.s.service.name}' can take the session (router_options=${options}); check the servers' states`,
      );
    }
    this.s.core.touch(server);
    const backend = await Backend.open(server, this.s.credentials(), this.s.followsReplies ? 'observe' : 'raw', this);
    if (this.closed) {
      backend.close();
      return;
    }
    this.backend = backend;
    this.s.backendsChanged([backend.view]);
    // KILL [QUERY] of this session from a readwritesplit session reaches its server thread.
    registerKillable(this.s.id, () => (backend.closed ? [] : [{ server, threadId: backend.threadId }]));
  }

  routeQuery(packet: Buffer, _hints: Hint[] | null): void {
    // Only a packet that starts a command (sequence 0) is one the tracker should follow.
    const command = packet[3] === 0 && packet.length > 4 ? packet[4]! : -1;
    this.write(packet, command);
  }

  forwardRaw(chunk: Buffer): void {
    this.write(chunk, -1);
  }

  changeUser(request: ChangeUser, passwordSha1: Buffer, sequence: number): void {
    const b = this.backend;
    if (!b) return;
    this.write(
      writeChangeUser(
        sequence,
        { ...request, token: tokenFor(passwordSha1, b.scramble) },
        this.s.credentials().capabilities,
      ),
      Command.CHANGE_USER,
    );
  }

  serverChanged(server: ConfigObject, event: ServerEvent): void {
    if (!this.backend || !sameName(this.backend.server.name, server.name)) return;
    // The client is told why with an error packet, as MaxScale does (2013).
    if (event === 'down')
      this.s.fail(2013, 'HY000', `Lost connection to backend server '${server.name}': the server is down`);
    // As MaxScale's readconnroute does: a session of a `master` service is only valid on the
    // primary. When the primary moves (switchover, failover), its clients are disconnected
    // and reconnect to the new one instead of writing to a replica.
    if (event === 'lost_master' && stringList(this.s.service.params.router_options!).join() === 'master') {
      this.s.fail(
        2013,
        'HY000',
        `Lost connection to backend server '${server.name}': the server is no longer the primary`,
      );
    }
  }

  close(): void {
    this.closed = true;
    unregisterKillable(this.s.id);
    this.backend?.close();
  }

  // ---- BackendOwner ----
  toClient(bytes: Buffer): boolean {
    return this.s.toClient(bytes);
  }
  whenClientDrains(resume: () => void): void {
    this.s.whenClientDrains(resume);
  }
  replied(backend: Backend, reply: Reply): void {
    this.s.replied(reply, backend.server.name);
  }
  lost(backend: Backend, why: string): void {
    if (this.closed) return;
    this.s.fail(2013, 'HY000', `Lost connection to backend server '${backend.server.name}': ${why}`);
  }

  private write(bytes: Buffer, command: number): void {
    const b = this.backend;
    if (!b) return;
    if (!b.write(bytes, null, command)) {
      // The server reads slower than the client sends: stop reading the client until it drains.
      this.s.pauseClient();
      b.whenDrained(() => this.s.resumeClient());
    }
  }
}

export const readconnroute: Router = {
  name: 'readconnroute',
  newSession: (session) => new ReadConnRouteSession(session),
};
