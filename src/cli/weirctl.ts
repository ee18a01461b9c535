/**
 * weirctl: Weir's command line, shaped after MaxScale's maxctrl. Every command is a call of
 * the admin REST API through openapi-fetch typed by generated/api.d.ts; what the API refuses
 * is printed as the API's own error and the exit code is 1.
 *
 *   weirctl [-h HOST:PORT] [-u USER] [-p PASSWORD] [-s] [--tsv | --json] COMMAND ...
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { connect, resolveConnection, type WeirClient } from './connection.ts';
import { keyValues, table, type Format } from './table.ts';

export const USAGE = `Usage: weirctl [options] <command>

Commands (as maxctrl's):
  list servers|services|listeners [SERVICE]|monitors|filters|sessions|users
  show server|service|monitor|filter|session|user NAME    show maxscale|threads|logging|qc_cache [TOP]
  classify STATEMENT                       (one argument: quote the statement)
  set server NAME maintenance [--force]|drain    clear server NAME maintenance|drain
  create server NAME HOST PORT [key=value...]
  create service NAME ROUTER [key=value...] [--servers S...] [--filters F...]
  create monitor NAME MODULE [key=value...] [--servers S...] [--monitor-user U --monitor-password P]
  create listener SERVICE NAME PORT [--interface ADDRESS]
  create filter NAME MODULE [key=value...]     create user NAME PASSWORD [--type basic|admin]
  destroy server|service|monitor|filter|user NAME    destroy listener SERVICE NAME
  alter server|service|monitor|filter NAME KEY VALUE [KEY VALUE...]    alter logging KEY VALUE
  link service|monitor NAME SERVER...      unlink service|monitor NAME SERVER...
  start service|monitor NAME               stop service|monitor NAME
  rotate logs
  call command mariadbmon switchover|failover|rejoin MONITOR [ARGS...]
  call command readwritesplit reset-gtid SERVICE
  api get PATH [--fields F]                api patch|post PATH [JSON]

Options:
  -h, --hosts HOST:PORT   admin API (WEIRCTL_HOST; default 127.0.0.1:8989)
  -u, --user USER         (WEIRCTL_USER; default admin)
  -p, --password PASS     (WEIRCTL_PASSWORD; default mariadb)
  -s, --secure            HTTPS (WEIRCTL_SECURE)
      --config FILE       [weirctl] section with hosts/user/password/secure (WEIRCTL_CONFIG; default ~/.weirctl.cnf)
      --tsv               tab-separated output     --json   the API's JSON
      --help              this text
`;

/** What the API answered when it refused: printed as it is. */
export class CliError extends Error {}

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

const JSON_PATCH = { 'Content-Type': 'application/json-patch+json' } as const;
type Ops = Array<{ op: 'add' | 'remove' | 'replace' | 'test'; path: string; value?: unknown }>;

/** Runs one weirctl command line; resolves to the exit code. */
export async function weirctl(argv: string[], io: Io): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        hosts: { type: 'string', short: 'h' },
        user: { type: 'string', short: 'u' },
        password: { type: 'string', short: 'p' },
        secure: { type: 'boolean', short: 's' },
        config: { type: 'string' },
        tsv: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean' },
        servers: { type: 'string', multiple: true },
        filters: { type: 'string', multiple: true },
        'monitor-user': { type: 'string' },
        'monitor-password': { type: 'string' },
        interface: { type: 'string' },
        type: { type: 'string' },
        fields: { type: 'string' },
        force: { type: 'boolean' },
      },
    });
  } catch (err) {
    io.err(`Error: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values: o, positionals: args } = parsed;
  if (o.help || args.length === 0) {
    (o.help ? io.out : io.err)(USAGE);
    return o.help ? 0 : 2;
  }
  const format: Format = o.json ? 'json' : o.tsv ? 'tsv' : 'table';
  try {
    const connection = resolveConnection(
      { hosts: o.hosts, user: o.user, password: o.password, secure: o.secure, config: o.config },
      io.env,
    );
    const client = connect(connection);
    const ctx: Ctx = { client, format, out: io.out, opts: o, base: client };
    await dispatch(ctx, args);
    return 0;
  } catch (err) {
    if (err instanceof CliError) io.err(`Error: ${err.message}\n`);
    else if (err instanceof TypeError && /fetch failed/.test(err.message)) {
      io.err(`Error: cannot reach the Weir admin API: ${(err.cause as Error | undefined)?.message ?? err.message}\n`);
    } else io.err(`Error: ${(err as Error).message}\n`);
    return 1;
  }
}

interface Ctx {
  client: WeirClient;
  base: WeirClient;
  format: Format;
  out: (text: string) => void;
  opts: Record<string, string | boolean | string[] | undefined>;
}

/** The API's answer, or a CliError carrying its `{error, description}`. */
async function must<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (response.ok) return data as T;
  const e = error as { error?: string; description?: string } | undefined;
  throw new CliError(
    e?.description
      ? `${e.description} (${response.status} ${e.error ?? response.statusText})`
      : `${response.status} ${response.statusText}`,
  );
}

const usage = (what: string) => new CliError(`${what}\n\n${USAGE}`);
const name = (link: unknown) => String(link).replace(/^.*\//, '');
const need = (args: string[], n: number, form: string): string[] => {
  if (args.length < n) throw usage(`Expected: ${form}`);
  return args;
};

async function dispatch(ctx: Ctx, args: string[]): Promise<void> {
  const [command, ...rest] = args;
  switch (command) {
    case 'list':
      return list(ctx, rest);
    case 'show':
      return show(ctx, rest);
    case 'set':
    case 'clear':
      return setState(ctx, command, rest);
    case 'create':
      return create(ctx, rest);
    case 'destroy':
      return destroy(ctx, rest);
    case 'alter':
      return alter(ctx, rest);
    case 'link':
    case 'unlink':
      return link(ctx, command, rest);
    case 'start':
    case 'stop':
      return startStop(ctx, command, rest);
    case 'rotate': {
      if (rest[0] !== 'logs') throw usage('Expected: rotate logs');
      await must(ctx.client.POST('/maxscale/logs/flush'));
      return done(ctx);
    }
    case 'call':
      return call(ctx, rest);
    case 'classify':
      return classify(ctx, rest);
    case 'api':
      return api(ctx, rest);
    default:
      throw usage(`Unknown command '${command}'.`);
  }
}

function print(ctx: Ctx, data: unknown, header: string[], rows: () => unknown[][]): void {
  if (ctx.format === 'json') ctx.out(JSON.stringify(data, null, 2) + '\n');
  else ctx.out(table(header, rows(), ctx.format));
}

function done(ctx: Ctx): void {
  if (ctx.format !== 'tsv') ctx.out('OK\n');
}

async function list(ctx: Ctx, [what, arg]: string[]): Promise<void> {
  const c = ctx.client;
  switch (what) {
    case 'servers': {
      const data = await must(c.GET('/servers'));
      return print(ctx, data, ['Server', 'Address', 'Port', 'Connections', 'State', 'GTID', 'Monitor'], () =>
        data.map((s) => [
          s.name,
          s.address,
          s.port,
          s.statistics.connections,
          s.state.join(', '),
          s.gtid_current_pos,
          s.monitors.map(name).join(', '),
        ]),
      );
    }
    case 'services': {
      const data = await must(c.GET('/services'));
      return print(ctx, data, ['Service', 'Router', 'Connections', 'Total Connections', 'Targets'], () =>
        data.map((s) => [s.name, s.router, s.current_connections, s.total_connections, s.servers.map(name).join(', ')]),
      );
    }
    case 'listeners': {
      const services = arg ? [arg] : (await must(c.GET('/services'))).map((s) => s.name);
      const data = (
        await Promise.all(
          services.map((svc) => must(c.GET('/services/{name}/listeners', { params: { path: { name: svc } } }))),
        )
      ).flat();
      return print(ctx, data, ['Name', 'Port', 'Host', 'State', 'Service'], () =>
        data.map((l) => [l.name, l.port, l.address, l.state, name(l.service)]),
      );
    }
    case 'monitors': {
      const data = await must(c.GET('/monitors'));
      return print(ctx, data, ['Monitor', 'Module', 'State', 'Servers'], () =>
        data.map((m) => [m.name, m.module, m.state, m.servers.map(name).join(', ')]),
      );
    }
    case 'filters': {
      const data = await must(c.GET('/filters'));
      return print(ctx, data, ['Filter', 'Service', 'Module'], () =>
        data.map((f) => [f.name, f.services.map(name).join(', '), f.module]),
      );
    }
    case 'sessions': {
      const data = await must(c.GET('/sessions'));
      return print(ctx, data, ['Id', 'User', 'Host', 'Connected', 'Idle', 'Service'], () =>
        data.map((s) => [s.id, s.user, s.address, s.connected, s.idle, name(s.service)]),
      );
    }
    case 'users': {
      const data = await must(c.GET('/users'));
      return print(ctx, data, ['Name', 'Type', 'Privileges'], () => data.map((u) => [u.name, 'inet', u.role]));
    }
    default:
      throw usage('Expected: list servers|services|listeners|monitors|filters|sessions|users');
  }
}

async function show(ctx: Ctx, [what, id]: string[]): Promise<void> {
  const c = ctx.client;
  const path = { params: { path: { name: id ?? '' } } };
  let data: unknown;
  switch (what) {
    case 'server':
      data = await must(c.GET('/servers/{name}', path));
      break;
    case 'service':
      data = await must(c.GET('/services/{name}', path));
      break;
    case 'monitor':
      data = await must(c.GET('/monitors/{name}', path));
      break;
    case 'filter':
      data = await must(c.GET('/filters/{name}', path));
      break;
    case 'user':
      data = await must(c.GET('/users/{name}', path));
      break;
    case 'session':
      data = await must(c.GET('/sessions/{id}', { params: { path: { id: Number(id) } } }));
      break;
    case 'maxscale':
      data = await must(c.GET('/maxscale'));
      break;
    case 'threads':
      data = await must(c.GET('/maxscale/threads'));
      break;
    case 'logging':
      data = await must(c.GET('/maxscale/logs'));
      break;
    case 'qc_cache':
      return qcCache(ctx, id);
    default:
      throw usage(
        'Expected: show server|service|monitor|filter|session|user NAME, or show maxscale|threads|logging|qc_cache',
      );
  }
  if (!['maxscale', 'threads', 'logging'].includes(what!) && !id) throw usage(`Expected: show ${what} NAME`);
  if (ctx.format === 'json') ctx.out(JSON.stringify(data, null, 2) + '\n');
  else ctx.out(keyValues(data as Record<string, unknown>, ctx.format));
}

/** maxctrl's `show qc_cache`: the classifier cache's most used forms, most hits first. */
async function qcCache(ctx: Ctx, top: string | undefined): Promise<void> {
  if (top !== undefined && !/^\d+$/.test(top)) throw usage('Expected: show qc_cache [TOP] (a count)');
  const query = top === undefined ? {} : { top: Number(top) };
  const data = await must(ctx.client.GET('/maxscale/query_classifier/cache', { params: { query } }));
  print(ctx, data, ['Statement', 'Hits', 'Type mask', 'Tables'], () =>
    data.map((e) => [e.canonical, e.hits, e.classification.type_mask, e.classification.tables.join(', ')]),
  );
}

/** maxctrl's `classify STATEMENT`: how readwritesplit reads it. */
async function classify(ctx: Ctx, args: string[]): Promise<void> {
  if (args.length !== 1 || args[0] === '')
    throw usage(`Expected: classify STATEMENT, the statement as one argument (quote it)`);
  const data = await must(
    ctx.client.GET('/maxscale/query_classifier/classify', { params: { query: { sql: args[0]! } } }),
  );
  if (ctx.format === 'json') return ctx.out(JSON.stringify(data, null, 2) + '\n');
  const { tables, dropped, ...rest } = data.classification;
  ctx.out(
    keyValues(
      { sql: data.sql, canonical: data.canonical, ...rest, tables: tables.join(', '), dropped: dropped.join(', ') },
      ctx.format,
    ),
  );
}

/** `set server NAME maintenance|drain` adds the flag; `clear` removes it (maxctrl's `drain` is Weir's `draining`). */
async function setState(ctx: Ctx, verb: 'set' | 'clear', args: string[]): Promise<void> {
  const [kind, server, state] = need(args, 3, `${verb} server NAME maintenance|drain`);
  if (kind !== 'server') throw usage(`Expected: ${verb} server NAME maintenance|drain`);
  const flag = state === 'drain' ? 'draining' : state!;
  if (flag !== 'maintenance' && flag !== 'draining')
    throw new CliError(
      `Only maintenance and drain can be ${verb === 'set' ? 'set' : 'cleared'}; the monitor sets the other states.`,
    );
  const path = { params: { path: { name: server! } } };
  const current = await must(ctx.client.GET('/servers/{name}', path));
  // Draining with no connections left shows as `drained`.
  const shown = (current.state as string[]).map((f) => (f === 'drained' ? 'draining' : f));
  const at = shown.indexOf(flag);
  let ops: Ops = [];
  if (verb === 'set' && at < 0) ops = [{ op: 'add', path: '/state/-', value: flag }];
  if (verb === 'clear' && at >= 0)
    ops = [
      { op: 'test', path: `/state/${at}`, value: current.state[at] },
      { op: 'remove', path: `/state/${at}` },
    ];
  const force = ctx.opts.force === true;
  if (force && (verb !== 'set' || flag !== 'maintenance'))
    throw usage('--force goes with set server NAME maintenance only (it closes the connections now).');
  // --force: the connections close now, even when the server was in maintenance already
  // (then the patch only tests that it still is: a JSON Patch is never empty).
  if (force && !ops.length) ops = [{ op: 'test', path: `/state/${at}`, value: current.state[at] }];
  if (ops.length)
    await must(
      ctx.client.PATCH('/servers/{name}', {
        params: { path: { name: server! }, query: force ? { force: 'yes' } : {} },
        body: ops as never,
        headers: JSON_PATCH,
      }),
    );
  done(ctx);
}

/** key=value arguments, typed as the spec's create schema types them; unknown keys go in `parameters`. */
function params(schemaName: string, pairs: string[], into: Record<string, unknown> = {}): Record<string, unknown> {
  const spec = JSON.parse(readFileSync(new URL('../../generated/openapi.json', import.meta.url), 'utf8')) as {
    components: { schemas: Record<string, { properties?: Record<string, { type?: unknown; items?: unknown }> }> };
  };
  const props = spec.components.schemas[schemaName]?.properties ?? {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw usage(`'${pair}' is not key=value.`);
    const key = pair.slice(0, eq);
    const raw = pair.slice(eq + 1);
    const prop = props[key];
    const value =
      prop?.type === 'array' || (Array.isArray(prop?.type) && prop.type.includes('array'))
        ? raw
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : typed(raw);
    if (prop || !props.parameters) into[key] = value;
    else into.parameters = { ...(into.parameters as object | undefined), [key]: value };
  }
  return into;
}

function typed(raw: string): unknown {
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  if (raw === 'true' || raw === 'false') return raw === 'true';
  return raw;
}

async function create(ctx: Ctx, [kind, ...args]: string[]): Promise<void> {
  const c = ctx.client;
  const o = ctx.opts;
  const links = (kind: string, names: unknown) =>
    (names as string[] | undefined)?.flatMap((n) => n.split(',')).map((n) => `/${kind}/${n}`);
  switch (kind) {
    case 'server': {
      const [srv, host, port, ...rest] = need(args, 2, 'create server NAME HOST [PORT] [key=value...]');
      const body = params('ServerCreate', rest, { name: srv, address: host, ...(port ? { port: Number(port) } : {}) });
      await must(c.POST('/servers', { body: body as never }));
      break;
    }
    case 'service': {
      const [svc, router, ...rest] = need(args, 2, 'create service NAME ROUTER [key=value...]');
      const body = params('ServiceCreate', rest, { name: svc, router });
      if (o.servers) body.servers = links('servers', o.servers);
      if (o.filters) body.filters = links('filters', o.filters);
      await must(c.POST('/services', { body: body as never }));
      break;
    }
    case 'monitor': {
      const [mon, module, ...rest] = need(args, 2, 'create monitor NAME MODULE [key=value...]');
      const body = params('MonitorCreate', rest, { name: mon, module });
      if (o.servers) body.servers = links('servers', o.servers);
      if (o['monitor-user']) body.user = o['monitor-user'];
      if (o['monitor-password']) body.password = o['monitor-password'];
      await must(c.POST('/monitors', { body: body as never }));
      break;
    }
    case 'listener': {
      const [svc, lis, port] = need(args, 3, 'create listener SERVICE NAME PORT [--interface ADDRESS]');
      await must(
        c.POST('/services/{name}/listeners', {
          params: { path: { name: svc! } },
          body: { name: lis!, port: Number(port), address: String(o.interface ?? '::') },
        }),
      );
      break;
    }
    case 'filter': {
      const [flt, module, ...rest] = need(args, 2, 'create filter NAME MODULE [key=value...]');
      await must(c.POST('/filters', { body: params('FilterCreate', rest, { name: flt, module }) as never }));
      break;
    }
    case 'user': {
      const [user, password] = need(args, 2, 'create user NAME PASSWORD [--type basic|admin]');
      await must(
        c.POST('/users', {
          body: { name: user!, password: password!, role: (o.type ?? 'basic') as 'basic' | 'admin' },
        }),
      );
      break;
    }
    default:
      throw usage('Expected: create server|service|monitor|listener|filter|user ...');
  }
  done(ctx);
}

async function destroy(ctx: Ctx, [kind, a, b]: string[]): Promise<void> {
  const c = ctx.client;
  if (!a) throw usage(`Expected: destroy ${kind ?? 'KIND'} NAME`);
  const path = { params: { path: { name: a } } };
  switch (kind) {
    case 'server':
      await must(c.DELETE('/servers/{name}', path));
      break;
    case 'service':
      await must(c.DELETE('/services/{name}', path));
      break;
    case 'monitor':
      await must(c.DELETE('/monitors/{name}', path));
      break;
    case 'filter':
      await must(c.DELETE('/filters/{name}', path));
      break;
    case 'user':
      await must(c.DELETE('/users/{name}', path));
      break;
    case 'listener':
      if (!b) throw usage('Expected: destroy listener SERVICE NAME');
      await must(c.DELETE('/services/{name}/listeners/{listener}', { params: { path: { name: a, listener: b } } }));
      break;
    default:
      throw usage('Expected: destroy server|service|monitor|filter|listener|user NAME');
  }
  done(ctx);
}

/** `alter KIND NAME KEY VALUE...`: a JSON Patch replacing each field where the resource has it (top level, else `parameters`), typed like its current value. */
async function alter(ctx: Ctx, [kind, id, ...pairs]: string[]): Promise<void> {
  const c = ctx.client;
  if (kind === 'logging') {
    const current = (await must(c.GET('/maxscale/logs'))) as Record<string, unknown>;
    const all = [id!, ...pairs];
    await must(c.PATCH('/maxscale/logs', { body: patchFor(current, all) as never, headers: JSON_PATCH }));
    return done(ctx);
  }
  if (!id || pairs.length < 2 || pairs.length % 2)
    throw usage(`Expected: alter ${kind ?? 'KIND'} NAME KEY VALUE [KEY VALUE...]`);
  const path = { params: { path: { name: id } } };
  switch (kind) {
    case 'server': {
      const cur = await must(c.GET('/servers/{name}', path));
      await must(c.PATCH('/servers/{name}', { ...path, body: patchFor(cur, pairs) as never, headers: JSON_PATCH }));
      break;
    }
    case 'service': {
      const cur = await must(c.GET('/services/{name}', path));
      await must(c.PATCH('/services/{name}', { ...path, body: patchFor(cur, pairs) as never, headers: JSON_PATCH }));
      break;
    }
    case 'monitor': {
      const cur = await must(c.GET('/monitors/{name}', path));
      await must(c.PATCH('/monitors/{name}', { ...path, body: patchFor(cur, pairs) as never, headers: JSON_PATCH }));
      break;
    }
    case 'filter': {
      const cur = await must(c.GET('/filters/{name}', path));
      await must(c.PATCH('/filters/{name}', { ...path, body: patchFor(cur, pairs) as never, headers: JSON_PATCH }));
      break;
    }
    default:
      throw usage('Expected: alter server|service|monitor|filter NAME KEY VALUE..., or alter logging KEY VALUE...');
  }
  done(ctx);
}

function patchFor(current: object, pairs: string[]): Ops {
  if (pairs.length < 2 || pairs.length % 2) throw usage('Expected KEY VALUE pairs.');
  const cur = current as Record<string, unknown>;
  const ops: Ops = [];
  for (let i = 0; i < pairs.length; i += 2) {
    const key = pairs[i]!;
    const raw = pairs[i + 1]!;
    const nested =
      cur.parameters && typeof cur.parameters === 'object' && key in (cur.parameters as object) && !(key in cur);
    const levels =
      key in cur
        ? null
        : ['log_levels', 'log_throttling'].find(
            (k) => cur[k] && typeof cur[k] === 'object' && key in (cur[k] as object),
          );
    const holder = nested
      ? (cur.parameters as Record<string, unknown>)
      : levels
        ? (cur[levels] as Record<string, unknown>)
        : cur;
    const path = nested ? `/parameters/${key}` : levels ? `/${levels}/${key}` : `/${key}`;
    const old = holder[key];
    const value = Array.isArray(old)
      ? raw
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : typeof old === 'number'
        ? Number(raw)
        : typeof old === 'boolean'
          ? raw === 'true'
          : typeof old === 'string'
            ? raw
            : typed(raw);
    ops.push({ op: key in holder ? 'replace' : 'add', path, value });
  }
  return ops;
}

/** `link service NAME SERVER...` adds servers (or filters) to a service's list, `link monitor` to a monitor's. */
async function link(ctx: Ctx, verb: 'link' | 'unlink', [kind, id, ...targets]: string[]): Promise<void> {
  const c = ctx.client;
  if (!id || targets.length === 0 || (kind !== 'service' && kind !== 'monitor'))
    throw usage(`Expected: ${verb} service|monitor NAME TARGET...`);
  const path = { params: { path: { name: id } } };
  const current =
    kind === 'service' ? await must(c.GET('/services/{name}', path)) : await must(c.GET('/monitors/{name}', path));
  const lists: Record<string, string[]> = { servers: [...current.servers] };
  if ('filters' in current) lists.filters = [...current.filters];
  for (const t of targets) {
    // A service's target is a server or a filter: whichever exists.
    const isFilter =
      kind === 'service' && (await c.GET('/filters/{name}', { params: { path: { name: t } } })).response.ok;
    const list = isFilter ? 'filters' : 'servers';
    const ref = `/${list}/${t}`;
    const at = lists[list]!.findIndex((l) => l.toLowerCase() === ref.toLowerCase());
    if (verb === 'link' && at < 0) lists[list]!.push(ref);
    if (verb === 'unlink') {
      if (at < 0) throw new CliError(`'${t}' is not linked to ${kind} '${id}'.`);
      lists[list]!.splice(at, 1);
    }
  }
  const ops: Ops = Object.entries(lists).map(([k, v]) => ({ op: 'replace', path: `/${k}`, value: v }));
  if (kind === 'service') await must(c.PATCH('/services/{name}', { ...path, body: ops as never, headers: JSON_PATCH }));
  else await must(c.PATCH('/monitors/{name}', { ...path, body: ops as never, headers: JSON_PATCH }));
  done(ctx);
}

async function startStop(ctx: Ctx, verb: 'start' | 'stop', [kind, id]: string[]): Promise<void> {
  const c = ctx.client;
  if (!id) throw usage(`Expected: ${verb} service|monitor NAME`);
  const path = { params: { path: { name: id } } };
  if (kind === 'service')
    await must(verb === 'start' ? c.PUT('/services/{name}/start', path) : c.PUT('/services/{name}/stop', path));
  else if (kind === 'monitor')
    await must(verb === 'start' ? c.PUT('/monitors/{name}/start', path) : c.PUT('/monitors/{name}/stop', path));
  else throw usage(`Expected: ${verb} service|monitor NAME`);
  done(ctx);
}

/** `call command mariadbmon switchover MONITOR [NEW [OLD]]`, `... failover MONITOR`, `... rejoin MONITOR SERVER` (also without `command mariadbmon`). */
async function call(ctx: Ctx, args: string[]): Promise<void> {
  if (args[0] === 'command' && args[1] === 'readwritesplit') {
    const [op, service] = args.slice(2);
    if (op !== 'reset-gtid' || !service) throw usage('Expected: call command readwritesplit reset-gtid SERVICE');
    await must(ctx.client.POST('/services/{name}/reset-gtid', { params: { path: { name: service } } }));
    return done(ctx);
  }
  const rest = args[0] === 'command' ? args.slice(args[1] === 'mariadbmon' ? 2 : 1) : args;
  const [op, monitor, a, b] = rest;
  if (!monitor) throw usage('Expected: call command mariadbmon switchover|failover|rejoin MONITOR [ARGS]');
  const c = ctx.client;
  const path = { params: { path: { name: monitor } } };
  let result: unknown;
  switch (op) {
    case 'switchover':
      result = await must(
        c.POST('/monitors/{name}/switchover', {
          ...path,
          body: { ...(a ? { new_primary: a } : {}), ...(b ? { old_primary: b } : {}) },
        }),
      );
      break;
    case 'failover':
      result = await must(c.POST('/monitors/{name}/failover', path));
      break;
    case 'rejoin':
      if (!a) throw usage('Expected: call command mariadbmon rejoin MONITOR SERVER');
      result = await must(c.POST('/monitors/{name}/rejoin', { ...path, body: { server: a } }));
      break;
    default:
      throw usage(`Unknown mariadbmon command '${op}': switchover, failover or rejoin.`);
  }
  if (ctx.format === 'json') ctx.out(JSON.stringify(result, null, 2) + '\n');
  else ctx.out(keyValues(result as Record<string, unknown>, ctx.format));
}

/** `api get|patch|post PATH [JSON]`: the raw API (a JSON array to PATCH is a JSON Patch). */
async function api(ctx: Ctx, [method, path, body]: string[]): Promise<void> {
  if (!path || !['get', 'patch', 'post'].includes(method ?? ''))
    throw usage('Expected: api get|patch|post PATH [JSON]');
  let parsed: unknown;
  if (body !== undefined) {
    try {
      parsed = JSON.parse(body);
    } catch (err) {
      throw new CliError(`The body is not JSON: ${(err as Error).message}`);
    }
  }
  const url = path.startsWith('/') ? path : `/${path}`;
  const query = ctx.opts.fields
    ? `${url.includes('?') ? '&' : '?'}fields=${encodeURIComponent(String(ctx.opts.fields))}`
    : '';
  // The generic path has no operation type: openapi-fetch's untyped request, with the same base URL and credentials.
  const untyped = ctx.client as unknown as {
    request(
      method: string,
      url: string,
      init: object,
    ): Promise<{ data?: unknown; error?: unknown; response: Response }>;
  };
  const headers = Array.isArray(parsed) && method === 'patch' ? JSON_PATCH : { 'Content-Type': 'application/json' };
  const data = await must(
    untyped.request(method!.toUpperCase(), url + query, { ...(parsed !== undefined ? { body: parsed } : {}), headers }),
  );
  ctx.out(data === undefined ? 'OK\n' : JSON.stringify(data, null, 2) + '\n');
}
