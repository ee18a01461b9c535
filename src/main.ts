/**
 * The `weir` command line.
 *
 *   weir [--config FILE] [--datadir DIR] [--admin-host HOST] [--admin-port PORT]
 *        [--default-user USER] [--default-password PASSWORD]
 *   weir --validate FILE
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { installBackstop, useLogger } from './backstop.ts';
import { ConfigError } from './config/ini.ts';
import { readConfiguration, startWeir, VERSION } from './weir.ts';

const USAGE = `Usage: weir [options]
  --config FILE            MaxScale-format configuration file (default: the built-in configuration)
  --datadir DIR            where runtime changes, admin users and logs are kept
                           (default: $WEIR_DATADIR or ~/.local/share/weir)
  --admin-host HOST        address of the admin API (overrides [maxscale] admin_host)
  --admin-port PORT        port of the admin API (overrides [maxscale] admin_port)
  --default-user USER      service and monitor user of the built-in configuration
                           (default: $WEIR_DEFAULT_USER or root)
  --default-password PW    its password (default: $WEIR_DEFAULT_PASSWORD or empty)
  --validate FILE          check a configuration file and exit (0 valid, 1 invalid)
  --version, --help`;

function fail(message: string): never {
  process.stderr.write(`weir: ${message}\n`);
  process.exit(1);
}

let args;
try {
  args = parseArgs({
    options: {
      config: { type: 'string' },
      datadir: { type: 'string' },
      'admin-host': { type: 'string' },
      'admin-port': { type: 'string' },
      'default-user': { type: 'string' },
      'default-password': { type: 'string' },
      validate: { type: 'string' },
      version: { type: 'boolean' },
      help: { type: 'boolean' },
    },
    strict: true,
  }).values;
} catch (err) {
  fail(`${(err as Error).message}\n${USAGE}`);
}

if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (args.version) {
  process.stdout.write(`weir ${VERSION}\n`);
  process.exit(0);
}

const datadir =
  args.datadir ??
  process.env.WEIR_DATADIR ??
  join(process.env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'weir');
let adminPort: number | undefined;
if (args['admin-port'] !== undefined) {
  adminPort = Number(args['admin-port']);
  if (!Number.isInteger(adminPort) || adminPort < 0 || adminPort > 65535)
    fail(`--admin-port '${args['admin-port']}' is not a port number`);
}

if (args.validate !== undefined) {
  try {
    // Validation reads the file alone; runtime changes belong to a data directory.
    readConfiguration({ configFile: args.validate, datadir: join(datadir, '.validate') });
    process.stdout.write(`${args.validate}: valid\n`);
    process.exit(0);
  } catch (err) {
    fail(err instanceof ConfigError ? err.message : `${args.validate}: ${(err as Error).message}`);
  }
}

// Before anything runs: an error nobody caught is logged, and Weir keeps serving (backstop.ts says why).
installBackstop();

try {
  const weir = await startWeir({
    datadir,
    ...(args.config !== undefined && { configFile: args.config }),
    ...(args['admin-host'] !== undefined && { adminHost: args['admin-host'] }),
    ...(adminPort !== undefined && { adminPort }),
    defaultUser: args['default-user'] ?? process.env.WEIR_DEFAULT_USER ?? 'root',
    defaultPassword: args['default-password'] ?? process.env.WEIR_DEFAULT_PASSWORD ?? '',
  });
  useLogger(weir.context.log.logger);
  const shutdown = (signal: string) => {
    weir.context.log.logger.notice(`received ${signal}, stopping`);
    weir.stop().then(
      () => {
        useLogger(null);
        process.exit(0);
      },
      (err: Error) => {
        process.stderr.write(`weir: stopping failed: ${err.stack ?? err.message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  // logrotate's postrotate can send SIGUSR1, as with MaxScale, instead of calling the API.
  process.on('SIGUSR1', () => weir.context.log.flush());
} catch (err) {
  fail(err instanceof ConfigError ? err.message : ((err as Error).stack ?? String(err)));
}
