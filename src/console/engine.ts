/**
 * The command API's sessions, consumers and jobs, with Arthas's semantics
 * (../shared/reference/command-api.md):
 *
 * - A session has consumers; every consumer receives every result, in its own queue of 50
 *   (oldest dropped). A joiner first gets DISABLED, the session's last 50 results and the
 *   current input status.
 * - One foreground job per session; job ids are global. A job's stream: `command`
 *   (async_exec), ALLOW_INTERRUPT, its results, `status`, ALLOW_INPUT. Background jobs
 *   (`cmd &`) leave the input status alone.
 * - When every consumer has stopped pulling and its queue is full, the foreground job is
 *   interrupted, once, with a message saying why.
 * - Consumers unused for `console_consumer_timeout` and sessions idle for
 *   `console_session_timeout` are evicted; a session never while a job runs.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { components } from '../../generated/api.d.ts';
import type { AdminUser } from '../core/users.ts';

export type ApiResult = components['schemas']['ApiResult'];
type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
/** A result as a command emits it; the job id is added by the job. */
export type Emitted = DistributiveOmit<ApiResult, 'jobId'>;
export type JobStatus = 'READY' | 'RUNNING' | 'TERMINATED';

const QUEUE = 50;
const HISTORY = 50;
const HEALTHY_PULL_MS = 1000;
let nextJobId = 1;

export class Consumer {
  readonly queue: ApiResult[] = [];
  lastAccess = Date.now();
  polling = false;
  private wake: (() => void) | null = null;

  constructor(readonly id: string) {}

  push(result: ApiResult): void {
    this.queue.push(result);
    if (this.queue.length > QUEUE) this.queue.shift();
    this.wake?.();
  }

  /** Resolves when a result is queued or `ms` pass. */
  waitForResult(ms: number): Promise<void> {
    if (this.queue.length) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.wake === done) this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  /** Stops a waiting pull (the consumer was closed). */
  close(): void {
    this.wake?.();
  }

  healthy(now: number): boolean {
    return this.polling || this.queue.length < QUEUE || now - this.lastAccess < HEALTHY_PULL_MS;
  }
}

export class Job {
  readonly id = nextJobId++;
  status: JobStatus = 'READY';
  readonly abort = new AbortController();
  /** Why it was interrupted, when it was. */
  interruptedBecause: string | null = null;
  done: Promise<void> = Promise.resolve();

  constructor(
    readonly command: string,
    readonly background: boolean,
  ) {}

  interrupt(reason: string): void {
    if (this.status === 'TERMINATED' || this.abort.signal.aborted) return;
    this.interruptedBecause = reason;
    this.abort.abort(reason);
  }
}

export class ConsoleSession {
  readonly id = randomUUID();
  readonly createTime = Date.now();
  lastAccessTime = Date.now();
  readonly consumers = new Map<string, Consumer>();
  readonly jobs = new Map<number, Job>();
  foreground: Job | null = null;
  inputStatus: 'ALLOW_INPUT' | 'ALLOW_INTERRUPT' = 'ALLOW_INPUT';
  private readonly history: ApiResult[] = [];
  private readonly consumerPrefix = randomBytes(16).toString('hex');
  private consumerCount = 0;
  /** The all-consumers-unhealthy interruption happens once until some consumer is healthy again. */
  private unhealthyInterrupted = false;

  /** `user` created the session; each command runs as the user who sent it. */
  constructor(
    readonly user: AdminUser,
    readonly oneTime: boolean,
  ) {}

  addConsumer(joining: boolean): Consumer {
    const consumer = new Consumer(`${this.consumerPrefix}_${++this.consumerCount}`);
    if (joining) {
      consumer.push({ type: 'input_status', jobId: 0, inputStatus: 'DISABLED' });
      for (const r of this.history) consumer.push(r);
      consumer.push({ type: 'input_status', jobId: 0, inputStatus: this.inputStatus });
    }
    this.consumers.set(consumer.id, consumer);
    return consumer;
  }

  /** Sends a result to every consumer, and keeps it for joiners. */
  distribute(result: ApiResult): void {
    if (result.type !== 'input_status') {
      this.history.push(result);
      if (this.history.length > HISTORY) this.history.shift();
    }
    for (const c of this.consumers.values()) c.push(result);
    this.checkConsumers();
  }

  setInputStatus(status: 'ALLOW_INPUT' | 'ALLOW_INTERRUPT'): void {
    this.inputStatus = status;
    this.distribute({ type: 'input_status', jobId: 0, inputStatus: status });
  }

  /** A streaming job nobody reads must not run forever (Arthas does the same). */
  private checkConsumers(): void {
    if (this.consumers.size === 0 || !this.foreground) return;
    const now = Date.now();
    if ([...this.consumers.values()].some((c) => c.healthy(now))) {
      this.unhealthyInterrupted = false;
      return;
    }
    if (this.unhealthyInterrupted) return;
    this.unhealthyInterrupted = true;
    const job = this.foreground;
    const message = `every consumer of this session stopped pulling and its queue is full, so job ${job.id} was interrupted.`;
    this.distribute({ type: 'message', jobId: job.id, message });
    job.interrupt(message);
  }

  runningJobs(): Job[] {
    return [...this.jobs.values()].filter((j) => j.status !== 'TERMINATED');
  }

  close(reason: string): void {
    for (const job of this.runningJobs()) job.interrupt(reason);
    for (const c of this.consumers.values()) c.close();
    this.consumers.clear();
  }
}

export class ConsoleSessions {
  private readonly sessions = new Map<string, ConsoleSession>();

  constructor(readonly timeouts: () => { session: number; consumer: number }) {}

  create(user: AdminUser, oneTime = false): ConsoleSession {
    const s = new ConsoleSession(user, oneTime);
    this.sessions.set(s.id, s);
    return s;
  }

  get(id: string): ConsoleSession | undefined {
    const s = this.sessions.get(id);
    if (s) s.lastAccessTime = Date.now();
    return s;
  }

  /** A session without counting as an access (for tests and diagnostics). */
  peek(id: string): ConsoleSession | undefined {
    return this.sessions.get(id);
  }

  remove(session: ConsoleSession, reason: string): void {
    session.close(reason);
    this.sessions.delete(session.id);
  }

  /** Evicts idle consumers and sessions; run every second by the scheduler. */
  evict(now = Date.now()): void {
    const { session: sessionTimeout, consumer: consumerTimeout } = this.timeouts();
    for (const s of this.sessions.values()) {
      for (const c of s.consumers.values()) {
        if (!c.polling && now - c.lastAccess > consumerTimeout) {
          c.close();
          s.consumers.delete(c.id);
        }
      }
      if (now - s.lastAccessTime > sessionTimeout && s.runningJobs().length === 0) {
        s.distribute({
          type: 'message',
          jobId: 0,
          message: `session is inactive for ${Math.round((now - s.lastAccessTime) / 60000)} min(s).`,
        });
        this.remove(s, 'the session was evicted');
      }
    }
  }

  closeAll(): void {
    for (const s of this.sessions.values()) this.remove(s, 'Weir is stopping');
  }
}
