/**
 * Where weirctl connects and as whom, as maxctrl decides it: command-line flags first, then
 * the environment (WEIRCTL_HOST, WEIRCTL_USER, WEIRCTL_PASSWORD, WEIRCTL_SECURE), then the
 * `[weirctl]` section of a configuration file (--config, WEIRCTL_CONFIG or ~/.weirctl.cnf),
 * then the defaults (127.0.0.1:8989, admin, mariadb).
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import createClient, { type Client } from 'openapi-fetch';
import type { paths } from '../../generated/api.d.ts';

export interface Connection {
  host: string;
  user: string;
  password: string;
  secure: boolean;
}

export interface ConnectionFlags {
  hosts?: string;
  user?: string;
  password?: string;
  secure?: boolean;
  config?: string;
}

export function resolveConnection(flags: ConnectionFlags, env: NodeJS.ProcessEnv): Connection {
  const file = readConfigFile(
    flags.config ?? env.WEIRCTL_CONFIG ?? join(homedir(), '.weirctl.cnf'),
    flags.config !== undefined,
  );
  const bool = (v: string | undefined) => v !== undefined && /^(1|true|yes|on)$/i.test(v);
  return {
    host: flags.hosts ?? env.WEIRCTL_HOST ?? file.hosts ?? file.h ?? '127.0.0.1:8989',
    user: flags.user ?? env.WEIRCTL_USER ?? file.user ?? file.u ?? 'admin',
    password: flags.password ?? env.WEIRCTL_PASSWORD ?? file.password ?? file.p ?? 'mariadb',
    secure: flags.secure ?? (env.WEIRCTL_SECURE !== undefined ? bool(env.WEIRCTL_SECURE) : bool(file.secure ?? file.s)),
  };
}

/** The `[weirctl]` section's key=value pairs (a file that is not there is no error unless named). */
function readConfigFile(path: string, mustExist: boolean): Record<string, string> {
  if (!existsSync(path)) {
    if (mustExist) throw new Error(`The configuration file ${path} does not exist.`);
    return {};
  }
  const out: Record<string, string> = {};
  let inSection = false;
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      inSection = section[1]!.trim().toLowerCase() === 'weirctl';
      continue;
    }
    const eq = line.indexOf('=');
    if (inSection && eq > 0) out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

export type WeirClient = Client<paths>;

/** openapi-fetch over the generated types: a spec change that breaks weirctl fails the type check. */
export function connect(c: Connection): WeirClient {
  const base = /^https?:\/\//.test(c.host) ? c.host : `${c.secure ? 'https' : 'http'}://${c.host}`;
  return createClient<paths>({
    baseUrl: base.replace(/\/$/, ''),
    headers: { Authorization: `Basic ${Buffer.from(`${c.user}:${c.password}`).toString('base64')}` },
  });
}
