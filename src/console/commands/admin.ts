/**
 * The admin commands, in maxctrl's words, each one REST operation (or a read then one
 * operation): list, show, set/clear, start/stop, kill session, create/destroy server,
 * link/unlink, alter, switchover/failover/rejoin, rotate logs.
 */
import { unprocessable } from '../../core/errors.ts';
import { paramDefs } from '../../core/objects.ts';
import { parseConfigValue, type Value } from '../../core/params.ts';
import type { ObjectKind } from '../../core/modules.ts';
import { rest } from './rest.ts';
import { closeForMaintenance } from '../../http/handlers/servers.ts';
import { synced } from '../../config/sync/synced-operations.ts';
import { requireAdmin, UsageError, type Command, type CommandContext } from './types.ts';

const LISTS = ['servers', 'services', 'listeners', 'monitors', 'filters', 'sessions', 'users', 'modules'] as const;
const SHOWS = ['server', 'service', 'monitor', 'filter', 'session', 'maxscale'] as const;
const always = () => true;
const never = () => false;

function need(words: string[], count: number, usage: string): void {
  if (words.length < count) throw new UsageError(`missing arguments; usage: ${usage}`);
}

function oneOf<T extends string>(word: string | undefined, allowed: readonly T[], usage: string): T {
  if (!word || !allowed.includes(word as T))
    throw new UsageError(`expected one of ${allowed.join(', ')}${word ? `, not '${word}'` : ''}; usage: ${usage}`);
  return word as T;
}

async function showObject(ctx: CommandContext, kind: (typeof SHOWS)[number], name: string): Promise<void> {
  switch (kind) {
    case 'server':
      return ctx.emit({ type: 'server', item: await rest(ctx, 'getServer', { params: { name } }) });
    case 'service':
      return ctx.emit({ type: 'service', item: await rest(ctx, 'getService', { params: { name } }) });
    case 'monitor':
      return ctx.emit({ type: 'monitor', item: await rest(ctx, 'getMonitor', { params: { name } }) });
    case 'filter':
      return ctx.emit({ type: 'filter', item: await rest(ctx, 'getFilter', { params: { name } }) });
    case 'session': {
      if (!/^\d+$/.test(name))
        throw new UsageError(`a session id is a number, not '${name}'; 'list sessions' shows them`);
      return ctx.emit({ type: 'session', item: await rest(ctx, 'getSession', { params: { id: Number(name) } }) });
    }
    case 'maxscale':
      return ctx.emit({ type: 'maxscale', item: await rest(ctx, 'getMaxscale') });
  }
}

export const adminCommands: Command[] = [
  {
    name: 'list',
    usage: `list ${LISTS.join('|')}`,
    summary: 'List the objects of one kind, as GET on their collection shows them.',
    readOnly: always,
    streaming: false,
    async run(ctx, words) {
      const usage = `list ${LISTS.join('|')}`;
      const kind = oneOf(words[0], LISTS, usage);
      switch (kind) {
        case 'servers':
          return ctx.emit({ type: 'servers', items: await rest(ctx, 'listServers') });
        case 'services':
          return ctx.emit({ type: 'services', items: await rest(ctx, 'listServices') });
        case 'monitors':
          return ctx.emit({ type: 'monitors', items: await rest(ctx, 'listMonitors') });
        case 'filters':
          return ctx.emit({ type: 'filters', items: await rest(ctx, 'listFilters') });
        case 'sessions':
          return ctx.emit({ type: 'sessions', items: await rest(ctx, 'listSessions') });
        case 'users':
          return ctx.emit({ type: 'users', items: await rest(ctx, 'listUsers') });
        case 'modules':
          return ctx.emit({ type: 'modules', items: await rest(ctx, 'listModules') });
        case 'listeners': {
          const items = [];
          for (const service of ctx.weir.core.list('service'))
            items.push(...(await rest(ctx, 'listServiceListeners', { params: { name: service.name } })));
          return ctx.emit({ type: 'listeners', items });
        }
      }
    },
  },
  {
    name: 'show',
    usage: `show ${SHOWS.join('|')} NAME | show qc_cache [TOP]`,
    summary:
      "Show one object as GET on it shows it (`show maxscale` needs no name); `show qc_cache` lists the query classifier cache's most used forms (20 unless TOP says).",
    readOnly: always,
    streaming: false,
    async run(ctx, words) {
      const usage = `show ${SHOWS.join('|')} NAME | show qc_cache [TOP]`;
      if (words[0] === 'qc_cache') {
        const top = words[1] === undefined ? 20 : Number(words[1]);
        if (!/^\d+$/.test(words[1] ?? '20') || top > 10_000)
          throw new UsageError(`TOP is a count from 0 to 10000, not '${words[1]}'; usage: ${usage}`);
        return ctx.emit({ type: 'qc_cache', items: await rest(ctx, 'listClassifierCache', { query: { top } }) });
      }
      const kind = oneOf(words[0], SHOWS, usage);
      if (kind !== 'maxscale') need(words, 2, usage);
      await showObject(ctx, kind, words[1] ?? '');
    },
  },
  {
    name: 'classify',
    usage: 'classify STATEMENT',
    summary:
      'How readwritesplit classifies a statement (type mask, tables, canonical form), as GET /maxscale/query_classifier/classify shows it; quote the statement as one word.',
    readOnly: always,
    streaming: false,
    async run(ctx, words) {
      const usage = `classify STATEMENT (one word: quote it, e.g. classify "SELECT c FROM t WHERE k = 'x'")`;
      need(words, 1, usage);
      if (words.length > 1) throw new UsageError(`the statement must be one word; usage: ${usage}`);
      if (words[0] === '') throw new UsageError(`the statement is empty; usage: ${usage}`);
      if (words[0]!.length > 65_536) throw new UsageError('the statement is longer than 65536 characters');
      ctx.emit({ type: 'classification', item: await rest(ctx, 'classifyStatement', { query: { sql: words[0]! } }) });
    },
  },
  ...(['set', 'clear'] as const).map((verb): Command => ({
    name: verb,
    usage: verb === 'set' ? 'set server NAME maintenance [--force]|drain' : 'clear server NAME maintenance|drain',
    summary:
      verb === 'set'
        ? 'Put a server in maintenance (--force: close its connections now, not at safe points), or drain it (no new sessions).'
        : 'Take a server out of maintenance or draining.',
    readOnly: never,
    streaming: false,
    async run(ctx, words) {
      const usage =
        verb === 'set' ? 'set server NAME maintenance [--force]|drain' : 'clear server NAME maintenance|drain';
      oneOf(words[0], ['server'] as const, usage);
      need(words, 3, usage);
      const flag = oneOf(words[2], ['maintenance', 'drain'] as const, usage) === 'drain' ? 'draining' : 'maintenance';
      const force = words[3] === '--force';
      if (words.length > (force ? 4 : 3) || (force && (verb !== 'set' || flag !== 'maintenance')))
        throw new UsageError(`unexpected '${words.slice(3).join(' ')}'; usage: ${usage}`);
      requireAdmin(ctx);
      const server = ctx.weir.core.get('server', words[1]!);
      const current = (server.params.state as string[]) ?? [];
      const next = verb === 'set' ? [...new Set([...current, flag])] : current.filter((f) => f !== flag);
      await synced(ctx.weir, () => ctx.weir.core.setServerAdminState(server.name, next));
      if (force) closeForMaintenance(ctx.weir, server.name);
      await showObject(ctx, 'server', server.name);
    },
  })),
  ...(['start', 'stop'] as const).map((verb): Command => ({
    name: verb,
    usage: `${verb} service|monitor NAME`,
    summary:
      verb === 'start'
        ? 'Start a service (its listeners accept again) or a monitor.'
        : 'Stop a service (its listeners stop accepting; sessions carry on) or a monitor.',
    readOnly: never,
    streaming: false,
    async run(ctx, words) {
      const usage = `${verb} service|monitor NAME`;
      const kind = oneOf(words[0], ['service', 'monitor'] as const, usage);
      need(words, 2, usage);
      const params = { name: words[1]! };
      if (kind === 'service') await rest(ctx, verb === 'start' ? 'startService' : 'stopService', { params });
      else await rest(ctx, verb === 'start' ? 'startMonitor' : 'stopMonitor', { params });
      await showObject(ctx, kind, words[1]!);
    },
  })),
  {
    name: 'create',
    usage: 'create server NAME ADDRESS [PORT]',
    summary: 'Create a server (persisted).',
    readOnly: never,
    streaming: false,
    async run(ctx, words) {
      const usage = 'create server NAME ADDRESS [PORT]';
      oneOf(words[0], ['server'] as const, usage);
      need(words, 3, usage);
      if (words[3] !== undefined && !/^\d+$/.test(words[3]))
        throw new UsageError(`PORT is a number, not '${words[3]}'; usage: ${usage}`);
      const item = await rest(ctx, 'createServer', {
        body: { name: words[1]!, address: words[2]!, port: words[3] === undefined ? 3306 : Number(words[3]) },
      });
      ctx.emit({ type: 'server', item });
    },
  },
  {
    name: 'destroy',
    usage: 'destroy server NAME',
    summary: 'Delete a server no service or monitor uses.',
    readOnly: never,
    streaming: false,
    async run(ctx, words) {
      const usage = 'destroy server NAME';
      oneOf(words[0], ['server'] as const, usage);
      need(words, 2, usage);
      await rest(ctx, 'deleteServer', { params: { name: words[1]! } });
      ctx.emit({ type: 'message', message: `server '${words[1]}' destroyed` });
    },
  },
  ...(['link', 'unlink'] as const).map((verb): Command => ({
    name: verb,
    usage: `${verb} service NAME SERVER...`,
    summary: verb === 'link' ? 'Add servers to a service.' : 'Remove servers from a service.',
    readOnly: never,
    streaming: false,
    async run(ctx, words) {
      const usage = `${verb} service NAME SERVER...`;
      oneOf(words[0], ['service'] as const, usage);
      need(words, 3, usage);
      const service = await rest(ctx, 'getService', { params: { name: words[1]! } });
      const named = words.slice(2).map((n) => `/servers/${ctx.weir.core.get('server', n).name}`);
      const links: string[] = service.servers;
      const next =
        verb === 'link'
          ? [...links, ...named.filter((l) => !links.some((x) => x.toLowerCase() === l.toLowerCase()))]
          : links.filter((l) => !named.some((x) => x.toLowerCase() === l.toLowerCase()));
      const item = await rest(ctx, 'patchService', {
        params: { name: words[1]! },
        body: [{ op: 'replace', path: '/servers', value: next }],
      });
      ctx.emit({ type: 'service', item });
    },
  })),
  {
    name: 'alter',
    usage: 'alter server|service|monitor|filter NAME KEY VALUE [KEY VALUE]...',
    summary: 'Change parameters, written as in a configuration file (durations with units, lists with commas).',
    readOnly: never,
    streaming: false,
    async run(ctx, words) {
      const usage = 'alter server|service|monitor|filter NAME KEY VALUE [KEY VALUE]...';
      const kind = oneOf(words[0], ['server', 'service', 'monitor', 'filter'] as const, usage);
      need(words, 4, usage);
      if ((words.length - 2) % 2 !== 0) throw new UsageError(`every KEY needs a VALUE; usage: ${usage}`);
      const obj = ctx.weir.core.get(kind as ObjectKind, words[1]!);
      const defs = paramDefs(
        kind as ObjectKind,
        typeof obj.params.module === 'string'
          ? obj.params.module
          : typeof obj.params.router === 'string'
            ? obj.params.router
            : null,
      );
      const changes: Record<string, Value> = {};
      for (let i = 2; i < words.length; i += 2) {
        const key = words[i]!;
        const def = defs.find((d) => d.name === key);
        if (!def)
          throw unprocessable(
            `'${key}' is not a parameter of ${kind} '${obj.name}'; 'show ${kind} ${obj.name}' lists them.`,
          );
        try {
          changes[key] = parseConfigValue(def, words[i + 1]!);
        } catch (err) {
          throw unprocessable(`Parameter '${key}' ${(err as Error).message}.`);
        }
      }
      requireAdmin(ctx);
      await synced(ctx.weir, () => ctx.weir.core.alter(kind as ObjectKind, obj.name, changes));
      await showObject(ctx, kind, obj.name);
    },
  },
  {
    name: 'switchover',
    usage: 'switchover MONITOR [NEW_PRIMARY]',
    summary: 'Move the primary to a replica with no lost writes.',
    readOnly: never,
    streaming: false,
    async run(ctx, words) {
      need(words, 1, 'switchover MONITOR [NEW_PRIMARY]');
      const result = await rest(ctx, 'switchoverMonitor', {
        params: { name: words[0]! },
        body: words[1] ? { new_primary: words[1] } : {},
      });
      ctx.emit({ type: 'operation', result });
    },
  },
  {
    name: 'failover',
    usage: 'failover MONITOR',
    summary: 'Promote the most up-to-date replica of a primary that is down.',
    readOnly: never,
    streaming: false,
    async run(ctx, words) {
      need(words, 1, 'failover MONITOR');
      ctx.emit({ type: 'operation', result: await rest(ctx, 'failoverMonitor', { params: { name: words[0]! } }) });
    },
  },
  {
    name: 'rejoin',
    usage: 'rejoin MONITOR SERVER',
    summary: 'Make a returned server a replica of the current primary.',
    readOnly: never,
    streaming: false,
    async run(ctx, words) {
      need(words, 2, 'rejoin MONITOR SERVER');
      ctx.emit({
        type: 'operation',
        result: await rest(ctx, 'rejoinMonitor', { params: { name: words[0]! }, body: { server: words[1]! } }),
      });
    },
  },
  {
    name: 'rotate',
    usage: 'rotate logs',
    summary: "Reopen Weir's log file and the filters' files (after logrotate).",
    readOnly: never,
    streaming: false,
    async run(ctx, words) {
      oneOf(words[0], ['logs'] as const, 'rotate logs');
      await rest(ctx, 'flushLogs');
      ctx.emit({ type: 'message', message: 'log files reopened' });
    },
  },
];

/** `kill session ID` is an admin command; `kill JOBID` (a job of this session) is not. */
export async function killSession(ctx: CommandContext, words: string[]): Promise<void> {
  need(words, 2, 'kill session ID');
  if (!/^\d+$/.test(words[1]!))
    throw new UsageError(`a session id is a number, not '${words[1]}'; 'list sessions' shows them`);
  await rest(ctx, 'closeSession', { params: { id: Number(words[1]) } });
  ctx.emit({ type: 'message', message: `session ${words[1]} closed` });
}
