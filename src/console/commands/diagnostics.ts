/**
 * The diagnostic commands, Arthas's in spirit, for a Node.js proxy: what runs (version,
 * runtime, sysenv, session, jobs), what passes through (watch queries, monitor services,
 * top queries, dashboard), and the process's insides (logger, heapdump, profiler).
 */
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { Session as InspectorSession } from 'node:inspector';
import { join, resolve } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';
import type { components } from '../../../generated/api.d.ts';
import { compileRegex, type UserRegex } from '../../core/regex.ts';
import type { QueryEvent } from '../../core/queries.ts';
import { canonical } from '../../proxy/filters/canonical.ts';
import { parseOptions } from '../tokenize.ts';
import { serverStates } from '../../core/objects.ts';
import { rest } from './rest.ts';
import { interrupted, requireAdmin, UsageError, type Command, type CommandContext } from './types.ts';

type QueryResult = components['schemas']['ApiQueryResult'];
const always = () => true;
const never = () => false;

function queryResult(e: QueryEvent, sql: string, jobId = 0): QueryResult {
  return {
    type: 'query',
    jobId,
    time: e.time.toISOString(),
    session: e.session,
    service: e.service,
    user: e.user,
    server: e.server,
    command: e.command,
    sql,
    durationMs: round(e.durationMs),
  };
}

/**
 * A statement as this user may see it: admins the text (its password literals already
 * masked by the feed), basic users its canonical form, which has no literals at all.
 */
function statementFor(ctx: CommandContext): (sql: string) => string {
  return ctx.user.role === 'admin' ? (sql) => sql : canonical;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!);
}

/** Runs `tick` every `ms` until the job is interrupted or `count` ticks have run. */
async function every(ctx: CommandContext, ms: number, count: number | null, tick: () => void): Promise<void> {
  let ticks = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      tick();
      if (count !== null && ++ticks >= count) stop();
    }, ms);
    const stop = () => {
      clearInterval(timer);
      resolve();
    };
    ctx.signal.addEventListener('abort', stop, { once: true });
  });
}

const LOGGER_OPTIONS = { level: 'string' } as const;
const SECRET = /pass|secret|token|key|credential/i;
let profiler: { session: InspectorSession; started: number; timer: NodeJS.Timeout | null } | null = null;

function diagnosticsDir(ctx: CommandContext): string {
  const dir = join(ctx.weir.info.datadir, 'diagnostics');
  mkdirSync(dir, { recursive: true });
  return dir;
}

function post<T>(session: InspectorSession, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) =>
    session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result as T))),
  );
}

async function stopProfiler(ctx: CommandContext): Promise<{ file: string; samples: number }> {
  const p = profiler!;
  profiler = null;
  if (p.timer) clearTimeout(p.timer);
  const { profile } = await post<{ profile: { samples?: number[] } }>(p.session, 'Profiler.stop');
  p.session.disconnect();
  const file = join(diagnosticsDir(ctx), `weir-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`);
  writeFileSync(file, JSON.stringify(profile));
  return { file, samples: profile.samples?.length ?? 0 };
}

export const diagnosticCommands: Command[] = [
  {
    name: 'version',
    usage: 'version',
    summary: "Weir's version, commit and Node.js version.",
    readOnly: always,
    streaming: false,
    async run(ctx) {
      ctx.emit({
        type: 'version',
        version: ctx.weir.info.version,
        node: process.version,
        commit: ctx.weir.info.commit,
      });
    },
  },
  {
    name: 'session',
    usage: 'session',
    summary: 'This command API session: id, user, consumers.',
    readOnly: always,
    streaming: false,
    async run(ctx) {
      const s = ctx.session;
      ctx.emit({
        type: 'console_session',
        sessionId: s.id,
        pid: process.pid,
        user: ctx.user.name,
        role: ctx.user.role,
        consumers: s.consumers.size,
        createTime: s.createTime,
      });
    },
  },
  {
    name: 'runtime',
    usage: 'runtime',
    summary: 'The process: versions, pid, uptime, memory, handles, event-loop use.',
    readOnly: always,
    streaming: false,
    async run(ctx) {
      const m = process.memoryUsage();
      ctx.emit({
        type: 'runtime',
        version: ctx.weir.info.version,
        node: process.version,
        pid: process.pid,
        uptimeSeconds: round(process.uptime()),
        memory: { rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external },
        activeHandles: process.getActiveResourcesInfo().length,
        eventLoopUtilization: round(ctx.weir.load.current / 100),
        platform: `${process.platform} ${process.arch}`,
      });
    },
  },
  {
    name: 'sysenv',
    usage: 'sysenv',
    summary: 'The environment (values of secret-looking names masked).',
    readOnly: always,
    streaming: false,
    async run(ctx) {
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(process.env).sort(([a], [b]) => a.localeCompare(b)))
        env[k] = SECRET.test(k) ? '*****' : (v ?? '');
      ctx.emit({ type: 'sysenv', env });
    },
  },
  {
    name: 'logger',
    usage: 'logger [--level error|warning|notice|info|debug]',
    summary: 'Show the log levels, or log from LEVEL up (needs admin).',
    readOnly: (words) => parseOptions(words, LOGGER_OPTIONS).options.level === undefined,
    streaming: false,
    async run(ctx, words) {
      const { options, args } = parseOptions(words, LOGGER_OPTIONS);
      if (args.length)
        throw new UsageError(`unexpected '${args[0]}'; usage: logger [--level error|warning|notice|info|debug]`);
      if (options.level !== undefined) {
        const order = ['error', 'warning', 'notice', 'info', 'debug'];
        const upTo = order.indexOf(String(options.level));
        if (upTo < 0) throw new UsageError(`--level is one of ${order.join(', ')}, not '${options.level}'`);
        await rest(ctx, 'patchLogs', {
          body: order
            .slice(1)
            .map((l, i) => ({ op: 'replace' as const, path: `/log_levels/${l}`, value: i + 1 <= upTo })),
        });
      }
      ctx.emit({ type: 'logger', levels: { ...ctx.weir.log.levels }, file: ctx.weir.log.file });
    },
  },
  {
    name: 'watch',
    usage: 'watch queries [--service S] [--session ID] [--user U] [--match REGEX] [-n COUNT]',
    summary:
      'Stream every statement passing through Weir, with its server and duration, until interrupted or COUNT (default 100); passwords masked, and literals too for basic users.',
    readOnly: always,
    streaming: true,
    async run(ctx, words) {
      const usage = 'watch queries [--service S] [--session ID] [--user U] [--match REGEX] [-n COUNT]';
      if (words[0] !== 'queries') throw new UsageError(`usage: ${usage}`);
      const { options, args } = parseOptions(words.slice(1), {
        service: 'string',
        session: 'number',
        user: 'string',
        match: 'string',
        n: 'number',
      });
      if (args.length) throw new UsageError(`unexpected '${args[0]}'; usage: ${usage}`);
      let match: UserRegex | null = null;
      if (options.match !== undefined) {
        try {
          match = compileRegex(String(options.match), ['ignorecase']);
        } catch (err) {
          throw new UsageError(`--match ${(err as Error).message}`);
        }
      }
      const limit = options.n === undefined ? 100 : Number(options.n);
      const shown = statementFor(ctx);
      let seen = 0;
      await new Promise<void>((resolve) => {
        const unsubscribe = ctx.weir.core.queries.subscribe((e) => {
          if (options.service !== undefined && e.service.toLowerCase() !== String(options.service).toLowerCase())
            return;
          if (options.session !== undefined && e.session !== options.session) return;
          if (options.user !== undefined && e.user !== options.user) return;
          // --match sees what the user sees, so it cannot probe literals a basic user may not read.
          const sql = shown(e.sql);
          if (match && !match.test(sql)) return;
          const { jobId: _omit, ...result } = queryResult(e, sql);
          ctx.emit(result);
          if (++seen >= limit) stop();
        });
        const stop = () => {
          unsubscribe();
          resolve();
        };
        ctx.signal.addEventListener('abort', stop, { once: true });
      });
    },
  },
  {
    name: 'monitor',
    usage: 'monitor services [-c SECONDS] [-n COUNT]',
    summary: "Stream, every SECONDS (default 5), each service's statements, QPS, errors and p50/p95/p99 latency.",
    readOnly: always,
    streaming: true,
    async run(ctx, words) {
      const usage = 'monitor services [-c SECONDS] [-n COUNT]';
      if (words[0] !== 'services') throw new UsageError(`usage: ${usage}`);
      const { options, args } = parseOptions(words.slice(1), { c: 'number', n: 'number' });
      if (args.length) throw new UsageError(`unexpected '${args[0]}'; usage: ${usage}`);
      const seconds = options.c === undefined ? 5 : Number(options.c);
      if (seconds <= 0) throw new UsageError('-c must be more than 0 seconds');
      let window = new Map<string, { durations: number[]; errors: number }>();
      const unsubscribe = ctx.weir.core.queries.subscribe((e) => {
        const w = window.get(e.service) ?? { durations: [], errors: 0 };
        w.durations.push(e.durationMs);
        if (e.error) w.errors++;
        window.set(e.service, w);
      });
      try {
        await every(ctx, seconds * 1000, options.n === undefined ? null : Number(options.n), () => {
          const current = window;
          window = new Map();
          ctx.emit({
            type: 'service_stats',
            time: new Date().toISOString(),
            intervalSeconds: seconds,
            services: ctx.weir.core.list('service').map((s) => {
              const w = current.get(s.name) ?? { durations: [], errors: 0 };
              const sorted = [...w.durations].sort((a, b) => a - b);
              return {
                name: s.name,
                statements: sorted.length,
                qps: round(sorted.length / seconds),
                errors: w.errors,
                p50Ms: percentile(sorted, 50),
                p95Ms: percentile(sorted, 95),
                p99Ms: percentile(sorted, 99),
              };
            }),
          });
        });
      } finally {
        unsubscribe();
      }
    },
  },
  {
    name: 'top',
    usage: 'top queries [-n N] [-d SECONDS]',
    summary: 'The N (default 10) slowest statements seen over SECONDS (default 5).',
    readOnly: always,
    streaming: false,
    async run(ctx, words) {
      const usage = 'top queries [-n N] [-d SECONDS]';
      if (words[0] !== 'queries') throw new UsageError(`usage: ${usage}`);
      const { options, args } = parseOptions(words.slice(1), { n: 'number', d: 'number' });
      if (args.length) throw new UsageError(`unexpected '${args[0]}'; usage: ${usage}`);
      const n = options.n === undefined ? 10 : Number(options.n);
      const seconds = options.d === undefined ? 5 : Number(options.d);
      const seen: QueryEvent[] = [];
      const started = performance.now();
      const unsubscribe = ctx.weir.core.queries.subscribe((e) => {
        seen.push(e);
        if (seen.length > 10 * n) {
          seen.sort((a, b) => b.durationMs - a.durationMs);
          seen.length = n;
        }
      });
      await Promise.race([new Promise((r) => setTimeout(r, seconds * 1000).unref()), interrupted(ctx.signal)]);
      unsubscribe();
      seen.sort((a, b) => b.durationMs - a.durationMs);
      ctx.emit({
        type: 'top_queries',
        sampledSeconds: round((performance.now() - started) / 1000),
        queries: seen.slice(0, n).map((e) => queryResult(e, statementFor(ctx)(e.sql), ctx.job.id)),
      });
    },
  },
  {
    name: 'dashboard',
    usage: 'dashboard [-i MS] [-n COUNT]',
    summary: 'Stream, every MS (default 5000), sessions, QPS per service, server states, heap and event-loop delay.',
    readOnly: always,
    streaming: true,
    async run(ctx, words) {
      const { options, args } = parseOptions(words, { i: 'number', n: 'number' });
      if (args.length) throw new UsageError(`unexpected '${args[0]}'; usage: dashboard [-i MS] [-n COUNT]`);
      const interval = options.i === undefined ? 5000 : Number(options.i);
      if (interval < 10) throw new UsageError('-i must be at least 10 ms');
      const counts = new Map<string, number>();
      const unsubscribe = ctx.weir.core.queries.subscribe((e) =>
        counts.set(e.service, (counts.get(e.service) ?? 0) + 1),
      );
      const delay = monitorEventLoopDelay({ resolution: 10 });
      delay.enable();
      const core = ctx.weir.core;
      const snapshot = () => {
        ctx.emit({
          type: 'dashboard',
          time: new Date().toISOString(),
          sessions: core.sessions.list().length,
          services: core.list('service').map((s) => ({
            name: s.name,
            state: String(s.params.state),
            sessions: core.sessions.ofService(s.name).length,
            qps: round((counts.get(s.name) ?? 0) / (interval / 1000)),
          })),
          servers: core.list('server').map((s) => ({
            name: s.name,
            state: serverStates(s),
            connections: s.runtime.currentConnections,
          })),
          heapUsed: process.memoryUsage().heapUsed,
          eventLoopDelayMs: round(Number.isNaN(delay.mean) ? 0 : delay.mean / 1e6),
        });
        counts.clear();
        delay.reset();
      };
      try {
        await every(ctx, interval, options.n === undefined ? null : Number(options.n), snapshot);
      } finally {
        unsubscribe();
        delay.disable();
      }
    },
  },
  {
    name: 'heapdump',
    usage: 'heapdump [FILE]',
    summary: 'Write a V8 heap snapshot (Chrome DevTools, Memory tab); pauses Weir while it writes.',
    readOnly: never,
    streaming: false,
    async run(ctx, words) {
      requireAdmin(ctx);
      const file = words[0]
        ? resolve(words[0])
        : join(diagnosticsDir(ctx), `weir-${new Date().toISOString().replace(/[:.]/g, '-')}.heapsnapshot`);
      const written = writeHeapSnapshot(file);
      ctx.emit({ type: 'heapdump', file: written, bytes: statSync(written).size });
    },
  },
  {
    name: 'profiler',
    usage: 'profiler start [--duration SECONDS] | stop | status',
    summary: 'CPU profile of Weir, written as a .cpuprofile file that Chrome DevTools opens.',
    readOnly: (words) => words[0] === 'status',
    streaming: false,
    async run(ctx, words) {
      const usage = 'profiler start [--duration SECONDS] | stop | status';
      const action = words[0];
      if (action === 'status') {
        return ctx.emit({ type: 'profiler', action: 'status', running: profiler !== null });
      }
      requireAdmin(ctx);
      if (action === 'start') {
        const { options, args } = parseOptions(words.slice(1), { duration: 'number' });
        if (args.length) throw new UsageError(`unexpected '${args[0]}'; usage: ${usage}`);
        if (profiler) throw new UsageError("the profiler is already running; 'profiler stop' writes its profile");
        const session = new InspectorSession();
        session.connect();
        await post(session, 'Profiler.enable');
        await post(session, 'Profiler.start');
        profiler = { session, started: Date.now(), timer: null };
        if (options.duration !== undefined) {
          const p = profiler;
          p.timer = setTimeout(
            () => {
              if (profiler !== p) return;
              stopProfiler(ctx).then(
                ({ file }) => ctx.weir.log.logger.notice({ file }, `CPU profile written to ${file}`),
                (err: Error) =>
                  ctx.weir.log.logger.error({ err: err.stack }, `the CPU profile could not be written: ${err.message}`),
              );
            },
            Number(options.duration) * 1000,
          );
          p.timer.unref();
        }
        return ctx.emit({ type: 'profiler', action: 'start', running: true });
      }
      if (action === 'stop') {
        if (!profiler) throw new UsageError("the profiler is not running; start it with 'profiler start'");
        const { file, samples } = await stopProfiler(ctx);
        return ctx.emit({ type: 'profiler', action: 'stop', running: false, file, samples });
      }
      throw new UsageError(`usage: ${usage}`);
    },
  },
];
