/**
 * The command API's actions (`POST /api`): the Arthas envelope around the engine. Every
 * request Weir can parse gets an answer with a `state`; nothing here throws to HTTP.
 */
import type { components } from '../../generated/api.d.ts';
import type { WeirContext } from '../context.ts';
import { WeirError } from '../core/errors.ts';
import type { AdminUser } from '../core/users.ts';
import { findCommand } from './commands/index.ts';
import { UsageError, type Command } from './commands/types.ts';
import { ConsoleSessions, Job, type ApiResult, type ConsoleSession, type Emitted } from './engine.ts';
import { tokenize, TokenizeError } from './tokenize.ts';

type ApiResponse = components['schemas']['ApiResponse'];
const DEFAULT_EXEC_TIMEOUT = 30_000;
const PULL_WAIT_MS = 2000;
const PULL_GRACE_MS = 100;
const PULL_MAX = 20;
const CONSUMER_LOCK_WAIT_MS = 500;
const EXEC_MAX_RESULTS = 500;

interface Prepared {
  command: Command;
  words: string[];
  background: boolean;
  line: string;
}

export class CommandApi {
  readonly sessions: ConsoleSessions;

  constructor(private readonly weir: WeirContext) {
    this.sessions = new ConsoleSessions(() => ({
      session: weir.globals.console_session_timeout,
      consumer: weir.globals.console_consumer_timeout,
    }));
  }

  async handle(raw: unknown, user: AdminUser): Promise<ApiResponse> {
    if (
      raw === undefined ||
      raw === null ||
      (typeof raw === 'object' && Object.keys(raw).length === 0 && !Array.isArray(raw))
    ) {
      return { state: 'FAILED', message: 'parse request failed: request body is empty' };
    }
    if (typeof raw !== 'object' || Array.isArray(raw))
      return { state: 'FAILED', message: 'parse request failed: the body must be a JSON object' };
    const req = raw as Record<string, unknown>;
    const requestId = typeof req.requestId === 'string' ? req.requestId : undefined;
    const reply = await this.dispatch(req, user);
    return requestId === undefined ? reply : { requestId, ...reply };
  }

  private async dispatch(req: Record<string, unknown>, user: AdminUser): Promise<ApiResponse> {
    for (const key of ['sessionId', 'consumerId', 'command'] as const) {
      if (req[key] !== undefined && typeof req[key] !== 'string')
        return { state: 'FAILED', message: `'${key}' must be a string` };
    }
    if (typeof req.action !== 'string' || req.action.trim() === '')
      return { state: 'FAILED', message: "'action' is required" };
    const action = req.action.trim().toLowerCase();
    const sessionId = req.sessionId as string | undefined;
    if (action === 'init_session') return this.initSession(user);
    if (action === 'exec') return this.exec(req, user);
    const known = ['async_exec', 'pull_results', 'interrupt_job', 'join_session', 'close_session', 'session_info'];
    if (!known.includes(action))
      return {
        state: 'FAILED',
        message: `unknown action: ${req.action}; the actions are exec, ${known.join(', ')}, init_session`,
      };
    if (!sessionId) return { state: 'FAILED', message: "'sessionId' is required" };
    const session = this.sessions.get(sessionId);
    if (!session) return { state: 'FAILED', message: `session not found: ${sessionId}` };
    const refusal = this.refusal(session, user);
    if (refusal) return refusal;
    switch (action) {
      case 'async_exec':
        return this.asyncExec(session, req, user);
      case 'pull_results':
        return this.pull(session, req.consumerId as string | undefined);
      case 'interrupt_job':
        return this.interrupt(session);
      case 'join_session':
        return { state: 'SUCCEEDED', sessionId: session.id, consumerId: session.addConsumer(true).id };
      case 'close_session':
        this.sessions.remove(session, 'the session was closed');
        return { state: 'SUCCEEDED' };
      default: {
        const { session: sessionTimeout, consumer: consumerTimeout } = this.sessions.timeouts();
        return {
          state: 'SUCCEEDED',
          sessionId: session.id,
          body: {
            createTime: session.createTime,
            lastAccessTime: session.lastAccessTime,
            pid: process.pid,
            sessionTimeout,
            consumerTimeout,
            consumers: [...session.consumers.keys()],
          },
        };
      }
    }
  }

  /**
   * A session is its creator's: only they or an admin may join it, pull its results, run
   * commands in it or close it. Knowing its id is not enough for a basic user, since its
   * results may be an admin's.
   */
  private refusal(session: ConsoleSession, user: AdminUser): ApiResponse | null {
    if (user.role === 'admin' || session.user.name.toLowerCase() === user.name.toLowerCase()) return null;
    return {
      state: 'FAILED',
      sessionId: session.id,
      message: `session ${session.id} was created by another user; '${user.name}' is a basic user, who may use only the sessions they created`,
    };
  }

  private initSession(user: AdminUser): ApiResponse {
    const session = this.sessions.create(user);
    const consumer = session.addConsumer(false);
    session.distribute({ type: 'message', jobId: 0, message: "Welcome to Weir's command API." });
    session.distribute({
      type: 'welcome',
      jobId: 0,
      pid: process.pid,
      version: this.weir.info.version,
      time: new Date().toISOString(),
      help: "Type 'help' for the commands.",
    });
    session.distribute({ type: 'input_status', jobId: 0, inputStatus: 'ALLOW_INPUT' });
    return { state: 'SUCCEEDED', sessionId: session.id, consumerId: consumer.id };
  }

  /** Reads the command line; a failure is the reply's message. */
  private prepare(line: unknown, user: AdminUser): Prepared | string {
    if (typeof line !== 'string' || line.trim() === '') return "'command' is required";
    let words: string[];
    let background: boolean;
    try {
      ({ words, background } = tokenize(line));
    } catch (err) {
      return (err as TokenizeError).message;
    }
    const command = findCommand(words[0] ?? '');
    if (!command) return `'${words[0]}' is not a command; 'help' lists them`;
    let readOnly: boolean;
    try {
      readOnly = command.readOnly(words.slice(1));
    } catch (err) {
      if (err instanceof UsageError || err instanceof TokenizeError) return err.message;
      throw err;
    }
    if (user.role !== 'admin' && !readOnly) {
      return `'${line.trim()}' changes Weir and needs an admin user; '${user.name}' is a basic user, who may run read-only commands such as 'list', 'show' and 'watch'`;
    }
    return { command, words: words.slice(1), background, line: line.trim() };
  }

  private async exec(req: Record<string, unknown>, user: AdminUser): Promise<ApiResponse> {
    let timeout = DEFAULT_EXEC_TIMEOUT;
    if (req.execTimeout !== undefined) {
      const n =
        typeof req.execTimeout === 'number'
          ? req.execTimeout
          : typeof req.execTimeout === 'string' && /^\s*\d+\s*$/.test(req.execTimeout)
            ? Number(req.execTimeout)
            : NaN;
      if (!Number.isFinite(n))
        return {
          state: 'FAILED',
          message: `'execTimeout' must be a number of milliseconds, not ${JSON.stringify(req.execTimeout)}`,
        };
      if (n > 0) timeout = n;
    }
    const oneTime = req.sessionId === undefined;
    let session: ConsoleSession;
    if (oneTime) session = this.sessions.create(user, true);
    else {
      const found = this.sessions.get(req.sessionId as string);
      if (!found) return { state: 'FAILED', message: `session not found: ${req.sessionId}` };
      const refusal = this.refusal(found, user);
      if (refusal) return refusal;
      session = found;
    }
    try {
      const prepared = this.prepare(req.command, user);
      if (typeof prepared === 'string')
        return { state: 'FAILED', sessionId: session.id, message: `Exec command failed: ${prepared}` };
      if (prepared.background)
        return {
          state: 'FAILED',
          sessionId: session.id,
          message: "Exec command failed: exec waits for its job; run background jobs ('... &') with async_exec",
        };
      if (session.foreground)
        return {
          state: 'REFUSED',
          sessionId: session.id,
          message: 'Another job is running.',
          body: { command: prepared.line, jobId: session.foreground.id, jobStatus: session.foreground.status },
        };
      const results: ApiResult[] = [];
      const job = this.start(session, prepared, user, (r) => {
        if (results.length < EXEC_MAX_RESULTS) results.push(r);
      });
      let timer: NodeJS.Timeout | undefined;
      const expired = await Promise.race([
        job.done.then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeout))),
      ]);
      clearTimeout(timer);
      if (expired) {
        job.interrupt(`exec timed out after ${timeout} ms`);
        await job.done;
        return {
          state: 'INTERRUPTED',
          sessionId: session.id,
          message: 'The job exceeded the time limit and was interrupted.',
          body: { command: prepared.line, jobId: job.id, jobStatus: job.status, timeExpired: true, timeout, results },
        };
      }
      return {
        state: 'SUCCEEDED',
        sessionId: session.id,
        body: { command: prepared.line, jobId: job.id, jobStatus: job.status, timeExpired: false, results },
      };
    } finally {
      if (oneTime) this.sessions.remove(session, 'one-time session ended');
    }
  }

  private asyncExec(session: ConsoleSession, req: Record<string, unknown>, user: AdminUser): ApiResponse {
    const prepared = this.prepare(req.command, user);
    if (typeof prepared === 'string') {
      session.distribute({
        type: 'command',
        jobId: 0,
        command: String(req.command ?? ''),
        state: 'FAILED',
        message: prepared,
      });
      return { state: 'FAILED', sessionId: session.id, message: `Async exec command failed: ${prepared}` };
    }
    if (session.foreground && !prepared.background) {
      return {
        state: 'REFUSED',
        sessionId: session.id,
        message: 'Another job is running.',
        body: { command: prepared.line, jobId: session.foreground.id, jobStatus: session.foreground.status },
      };
    }
    const job = this.start(session, prepared, user, (r) => session.distribute(r), true);
    return {
      state: 'SCHEDULED',
      sessionId: session.id,
      body: { command: prepared.line, jobId: job.id, jobStatus: 'READY' },
    };
  }

  /**
   * Starts a job. Its stream: `command` (async only), ALLOW_INTERRUPT, results, `status`,
   * ALLOW_INPUT; a background job's has no input status changes.
   */
  private start(
    session: ConsoleSession,
    p: Prepared,
    user: AdminUser,
    sink: (r: ApiResult) => void,
    announce = false,
  ): Job {
    const job = new Job(p.line, p.background);
    session.jobs.set(job.id, job);
    const emit = (r: Emitted) => {
      if (job.status === 'TERMINATED') return;
      sink({ ...r, jobId: job.id } as ApiResult);
    };
    if (announce) session.distribute({ type: 'command', jobId: job.id, command: job.command, state: 'SCHEDULED' });
    if (!p.background) {
      session.foreground = job;
      session.setInputStatus('ALLOW_INTERRUPT');
    }
    job.status = 'RUNNING';
    job.done = (async () => {
      let statusCode = 0;
      let message: string | undefined;
      try {
        await p.command.run({ weir: this.weir, user, session, job, signal: job.abort.signal, emit }, p.words);
      } catch (err) {
        if (err instanceof UsageError || err instanceof TokenizeError) {
          statusCode = -10;
          message = `${err.message}`;
        } else if (err instanceof WeirError) {
          statusCode = 1;
          message = err.description;
        } else {
          statusCode = 1;
          message = `Error during processing the command: ${(err as Error).message}`;
          this.weir.log.logger.error(
            { command: job.command, err: (err as Error).stack },
            `command '${job.command}' failed`,
          );
        }
      }
      if (job.interruptedBecause && statusCode === 0) message = `interrupted: ${job.interruptedBecause}`;
      emit({ type: 'status', statusCode, ...(message !== undefined && { message }) });
      job.status = 'TERMINATED';
      if (session.foreground === job) {
        session.foreground = null;
        session.setInputStatus('ALLOW_INPUT');
      }
    })();
    return job;
  }

  private async pull(session: ConsoleSession, consumerId: string | undefined): Promise<ApiResponse> {
    if (!consumerId) return { state: 'FAILED', sessionId: session.id, message: "'consumerId' is required" };
    const consumer = session.consumers.get(consumerId);
    if (!consumer)
      return {
        state: 'FAILED',
        sessionId: session.id,
        message: `consumer not found: ${consumerId}; join the session again (join_session) for a new consumer`,
      };
    if (consumer.polling) {
      // As Arthas: a second pull on the same consumer waits up to 500 ms for the first to finish.
      const until = Date.now() + CONSUMER_LOCK_WAIT_MS;
      while (consumer.polling && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      if (consumer.polling) return { state: 'SUCCEEDED', sessionId: session.id, consumerId, body: { results: [] } };
    }
    consumer.polling = true;
    try {
      await consumer.waitForResult(PULL_WAIT_MS);
      // A short grace lets results that come together leave together.
      if (consumer.queue.length > 0 && consumer.queue.length < PULL_MAX)
        await new Promise((r) => setTimeout(r, PULL_GRACE_MS));
      const results = consumer.queue.splice(0, PULL_MAX);
      return { state: 'SUCCEEDED', sessionId: session.id, consumerId, body: { results } };
    } finally {
      consumer.polling = false;
      consumer.lastAccess = Date.now();
      session.lastAccessTime = Date.now();
    }
  }

  private async interrupt(session: ConsoleSession): Promise<ApiResponse> {
    const job = session.foreground;
    if (!job) return { state: 'FAILED', sessionId: session.id, message: 'no foreground job is running' };
    job.interrupt('interrupted by interrupt_job');
    await job.done;
    return { state: 'SUCCEEDED', sessionId: session.id, body: { jobId: job.id, jobStatus: job.status } };
  }
}
