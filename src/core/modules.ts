/**
 * Every module Weir has, with its parameters (what `GET /maxscale/modules` shows),
 * and the core parameters of each object kind. Configuration files, the REST API and
 * the command API all check values against these definitions.
 */
import type { ParamDef } from './params.ts';

export type ModuleType = 'Protocol' | 'Router' | 'Monitor' | 'Filter' | 'Authenticator';
export type Maturity = 'GA' | 'Beta' | 'Alpha' | 'In development';

export interface ModuleInfo {
  name: string;
  type: ModuleType;
  version: string;
  api_version: string;
  /** `In development`: configurable, but it does not act on traffic yet. */
  maturity: Maturity;
  description: string;
  parameters: ParamDef[];
}

const VERSION = '0.1.0';

/** readwritesplit's `causal_reads` modes (MaxScale's names). */
export const CAUSAL_READS_MODES = [
  'none',
  'local',
  'global',
  'fast',
  'fast_global',
  'universal',
  'fast_universal',
] as const;
const API = '1.0.0';

const str = (name: string, description: string, extra: Partial<ParamDef> = {}): ParamDef => ({
  name,
  type: 'string',
  default: null,
  modifiable: true,
  description,
  ...extra,
});
const bool = (name: string, dflt: boolean, description: string, extra: Partial<ParamDef> = {}): ParamDef => ({
  name,
  type: 'bool',
  default: dflt,
  modifiable: true,
  description,
  ...extra,
});

/** The regular expression `options` and the `user`/`source` session filter that matching filters share. */
function sessionFilterParams(defaultOptions: string[]): ParamDef[] {
  return [
    {
      name: 'options',
      type: 'enum_mask',
      default: defaultOptions,
      modifiable: true,
      enum_values: ['ignorecase', 'case', 'extended'],
      description: 'Regular expression options.',
    },
    str('user', 'Only sessions of this user.'),
    str('source', 'Only sessions from this client address.'),
  ];
}

const matchParams: ParamDef[] = [
  {
    name: 'match',
    type: 'regex',
    default: null,
    modifiable: true,
    description: 'Only statements matching this regular expression.',
  },
  {
    name: 'exclude',
    type: 'regex',
    default: null,
    modifiable: true,
    description: 'Skip statements matching this regular expression.',
  },
  ...sessionFilterParams([]),
];

export const MODULES: ModuleInfo[] = [
  {
    name: 'readconnroute',
    type: 'Router',
    version: VERSION,
    api_version: API,
    maturity: 'Beta',
    description: 'Connection-level load balancing: each session is sent to one server picked at connect time.',
    parameters: [
      {
        name: 'router_options',
        type: 'enum_mask',
        default: ['running'],
        modifiable: true,
        enum_values: ['master', 'slave', 'synced', 'running'],
        description: 'Which servers may be picked; slave falls back to the primary when no replica is up.',
      },
      bool(
        'master_accept_reads',
        true,
        'With router_options other than master, whether the primary may be picked too.',
      ),
      {
        name: 'max_replication_lag',
        type: 'duration',
        unit: 's',
        default: 0,
        modifiable: true,
        description: 'Replicas lagging more than this are not picked (0 = ignore lag).',
      },
    ],
  },
  {
    name: 'readwritesplit',
    type: 'Router',
    version: VERSION,
    api_version: API,
    maturity: 'Beta',
    description:
      'Statement-level read/write splitting: writes and transactions to the primary, reads to replicas, session state kept on every connection.',
    parameters: [
      {
        name: 'max_slave_connections',
        type: 'count',
        default: 255,
        modifiable: true,
        description: 'Most replica connections per session (0 = every statement to the primary).',
      },
      {
        name: 'slave_connections',
        type: 'count',
        default: 255,
        modifiable: true,
        description: 'Replica connections opened when a session starts.',
      },
      {
        name: 'max_replication_lag',
        type: 'duration',
        unit: 's',
        default: 0,
        modifiable: true,
        description: 'Replicas lagging this much or more (or with unknown lag) get no reads (0 = ignore lag).',
      },
      {
        name: 'use_sql_variables_in',
        type: 'enum',
        default: 'all',
        enum_values: ['all', 'master'],
        modifiable: true,
        description: 'Where statements reading user variables go: any server (all) or the primary.',
      },
      {
        name: 'slave_selection_criteria',
        type: 'enum',
        default: 'least_current_operations',
        enum_values: [
          'least_current_operations',
          'adaptive_routing',
          'least_behind_master',
          'least_router_connections',
          'least_global_connections',
          'LEAST_CURRENT_OPERATIONS',
          'ADAPTIVE_ROUTING',
          'LEAST_BEHIND_MASTER',
          'LEAST_ROUTER_CONNECTIONS',
          'LEAST_GLOBAL_CONNECTIONS',
        ],
        modifiable: true,
        description: 'How a replica is picked for a read.',
      },
      bool('master_accept_reads', false, 'Whether the primary competes with the replicas for reads.'),
      bool('strict_multi_stmt', false, 'After a multi-statement, route everything to the primary.'),
      bool('strict_sp_calls', false, 'After a CALL, route everything to the primary.'),
      bool('strict_tmp_tables', true, 'Close the session when its primary is lost while temporary tables exist.'),
      {
        name: 'master_failure_mode',
        type: 'enum',
        default: 'fail_on_write',
        enum_values: ['fail_instantly', 'fail_on_write', 'error_on_write'],
        modifiable: true,
        description: 'What losing the primary does to a session.',
      },
      bool(
        'master_reconnection',
        true,
        'Move a session to a new primary (replaying its session state) when the primary changes.',
      ),
      bool('retry_failed_reads', true, 'Retry a read on another server when its server fails before answering.'),
      bool('delayed_retry', false, 'A statement with no server to go to waits for one (up to delayed_retry_timeout).'),
      {
        name: 'delayed_retry_timeout',
        type: 'duration',
        unit: 's',
        default: 10,
        modifiable: true,
        description: 'How long a statement waits for a server with delayed_retry.',
      },
      bool(
        'transaction_replay',
        false,
        'Re-run an open transaction on a new primary when its server is lost (implies delayed_retry and master_reconnection).',
      ),
      {
        name: 'transaction_replay_max_size',
        type: 'size',
        default: 1048576,
        modifiable: true,
        description: 'Largest transaction (statement bytes, per session) that can be replayed.',
      },
      {
        name: 'transaction_replay_attempts',
        type: 'count',
        default: 5,
        modifiable: true,
        description: 'Replay attempts per transaction (used when transaction_replay_timeout is 0).',
      },
      {
        name: 'transaction_replay_timeout',
        type: 'duration',
        unit: 's',
        default: 30,
        modifiable: true,
        description: 'How long replays of one transaction may go on (0: transaction_replay_attempts counts).',
      },
      bool(
        'transaction_replay_retry_on_deadlock',
        false,
        'Replay a transaction that failed with a deadlock or another rollback error (SQLSTATE 40xxx).',
      ),
      bool(
        'transaction_replay_retry_on_mismatch',
        false,
        'Start a replay over when its results differ from what the client saw (instead of closing the session).',
      ),
      bool(
        'transaction_replay_safe_commit',
        true,
        'A transaction whose COMMIT was sent is never replayed (a lost COMMIT closes the session).',
      ),
      {
        name: 'transaction_replay_checksum',
        type: 'enum',
        default: 'full',
        enum_values: ['full', 'result_only', 'no_insert_id'],
        modifiable: true,
        description: 'What of the replayed results is compared: full, result_only (not OK packets) or no_insert_id.',
      },
      bool(
        'optimistic_trx',
        false,
        'Start a transaction on a replica; its first statement that is not a read rolls it back there and replays it on the primary (implies transaction_replay).',
      ),
      bool('lazy_connect', false, 'Open backend connections only when a statement needs them.'),
      {
        name: 'causal_reads',
        type: 'enum',
        default: 'none',
        // MaxScale also takes the old booleans: true/on/1 mean local, false/off/0 none.
        enum_values: [...CAUSAL_READS_MODES, 'true', 'false', 'on', 'off', '1', '0'],
        modifiable: true,
        description:
          'Reads after a write see the write: a replica waits for the GTID (local, global, universal) or only replicas that have it take the read (fast, fast_global, fast_universal).',
      },
      {
        name: 'causal_reads_timeout',
        type: 'duration',
        unit: 's',
        default: 10,
        positive: true,
        modifiable: true,
        description: 'How long a replica waits for the GTID before the read goes to the primary.',
      },
      {
        name: 'max_sescmd_history',
        type: 'count',
        default: 50,
        modifiable: true,
        description: 'Most session commands kept for connections opened later.',
      },
      bool(
        'prune_sescmd_history',
        true,
        'Drop the oldest session command when the history is full (instead of refusing new connections).',
      ),
      bool('disable_sescmd_history', false, 'Keep no session command history: lost connections are not replaced.'),
      {
        name: 'connection_keepalive',
        type: 'duration',
        unit: 's',
        default: 300,
        modifiable: true,
        description: 'Ping backend connections unused this long so that servers do not time them out (0 = never).',
      },
      bool(
        'reuse_prepared_statements',
        false,
        'Answer a repeated PREPARE of the same SQL from the session cache; client COM_STMT_CLOSEs are ignored.',
      ),
    ],
  },
  {
    name: 'mariadbmon',
    type: 'Monitor',
    version: VERSION,
    api_version: API,
    maturity: 'Beta',
    description:
      'Monitors MariaDB primary/replica clusters: server states, replication topology, switchover and failover.',
    parameters: [
      bool('auto_failover', false, 'Promote a replica on its own when the primary is down for failcount rounds.'),
      bool('auto_rejoin', false, 'Point a returning old primary at the current primary.'),
      {
        name: 'failcount',
        type: 'count',
        default: 5,
        min: 1,
        modifiable: true,
        description: 'Rounds the primary must be down before failover.',
      },
      str('replication_user', 'Account for CHANGE MASTER during cluster operations (default: the monitor user).'),
      {
        name: 'replication_password',
        type: 'password',
        default: null,
        modifiable: true,
        description: 'Password of replication_user.',
      },
      {
        name: 'switchover_timeout',
        type: 'duration',
        unit: 's',
        default: 90,
        positive: true,
        modifiable: true,
        description: 'How long a switchover may take.',
      },
      {
        name: 'failover_timeout',
        type: 'duration',
        unit: 's',
        default: 90,
        positive: true,
        modifiable: true,
        description: 'How long a failover may take.',
      },
      {
        name: 'servers_no_promotion',
        type: 'serverlist',
        default: [],
        modifiable: true,
        description: 'Servers that switchover and failover never promote.',
      },
      {
        name: 'cooperative_monitoring_locks',
        type: 'enum',
        default: 'none',
        enum_values: ['none', 'majority_of_all', 'majority_of_running'],
        modifiable: true,
        description:
          'Several monitors (Weir or MaxScale) on one cluster: only the holder of a majority of server locks runs cluster operations.',
      },
    ],
  },
  {
    name: 'qlafilter',
    type: 'Filter',
    version: VERSION,
    api_version: API,
    maturity: 'Beta',
    description: 'Query log: writes the statements of sessions to files.',
    parameters: [
      {
        name: 'filebase',
        type: 'path',
        default: null,
        mandatory: true,
        modifiable: false,
        description: 'Base path of the log files.',
      },
      {
        name: 'log_type',
        type: 'enum_mask',
        default: ['session'],
        modifiable: true,
        enum_values: ['session', 'unified', 'stdout'],
        description: 'One file per session, one for all sessions, or standard output.',
      },
      {
        name: 'log_data',
        type: 'enum_mask',
        default: ['date', 'user', 'query'],
        modifiable: true,
        enum_values: [
          'service',
          'session',
          'date',
          'user',
          'reply_time',
          'total_reply_time',
          'query',
          'default_db',
          'num_rows',
          'reply_size',
          'transaction',
          'transaction_time',
          'num_warnings',
          'error_msg',
        ],
        description: 'The columns of each line.',
      },
      ...matchParams,
      bool('flush', false, 'Flush after every line.'),
      bool('append', true, 'Append to existing files instead of truncating them.'),
      str('separator', 'Column separator.', { default: ',' }),
      str('newline_replacement', 'What newlines in statements are replaced with.', { default: ' ' }),
      bool('use_canonical_form', false, 'Log statements with their literals replaced by ?.'),
      {
        name: 'duration_unit',
        type: 'enum',
        default: 'milliseconds',
        enum_values: ['milliseconds', 'ms', 'microseconds', 'us'],
        modifiable: true,
        description: 'Unit of reply_time, total_reply_time and transaction_time.',
      },
      {
        name: 'user_match',
        type: 'regex',
        default: null,
        modifiable: true,
        description: 'Only sessions whose user matches.',
      },
      {
        name: 'user_exclude',
        type: 'regex',
        default: null,
        modifiable: true,
        description: 'Not sessions whose user matches.',
      },
      {
        name: 'source_match',
        type: 'regex',
        default: null,
        modifiable: true,
        description: 'Only sessions whose client address matches.',
      },
      {
        name: 'source_exclude',
        type: 'regex',
        default: null,
        modifiable: true,
        description: 'Not sessions whose client address matches.',
      },
    ],
  },
  {
    name: 'regexfilter',
    type: 'Filter',
    version: VERSION,
    api_version: API,
    maturity: 'Beta',
    description: 'Rewrites statements that match a regular expression.',
    parameters: [
      {
        name: 'match',
        type: 'regex',
        default: null,
        mandatory: true,
        modifiable: true,
        description: 'The regular expression to look for.',
      },
      {
        name: 'replace',
        type: 'string',
        default: null,
        mandatory: true,
        modifiable: true,
        description: 'Replacement text; $1 refers to a group.',
      },
      ...sessionFilterParams(['ignorecase']),
      {
        name: 'log_file',
        type: 'path',
        default: null,
        modifiable: false,
        description: 'Log every replacement to this file.',
      },
      bool(
        'log_trace',
        false,
        "Log matching and non-matching statements, with replacements, to Weir's log at the info level.",
      ),
    ],
  },
  {
    name: 'topfilter',
    type: 'Filter',
    version: VERSION,
    api_version: API,
    maturity: 'Beta',
    description: 'Keeps the slowest statements of each session and writes them out when it closes.',
    parameters: [
      {
        name: 'filebase',
        type: 'path',
        default: null,
        mandatory: true,
        modifiable: false,
        description: 'Base path; each session writes filebase.<session id>.',
      },
      {
        name: 'count',
        type: 'count',
        default: 10,
        min: 1,
        modifiable: true,
        description: 'How many statements to keep.',
      },
      ...matchParams,
    ],
  },
  {
    name: 'throttlefilter',
    type: 'Filter',
    version: VERSION,
    api_version: API,
    maturity: 'Beta',
    description: 'Limits the statements per second of each session.',
    parameters: [
      {
        name: 'max_qps',
        type: 'count',
        default: null,
        mandatory: true,
        min: 1,
        modifiable: true,
        description: 'Most statements per second.',
      },
      {
        name: 'throttling_duration',
        type: 'duration',
        unit: 'ms',
        default: null,
        mandatory: true,
        positive: true,
        modifiable: true,
        description: 'Disconnect a session throttled continuously for this long.',
      },
      {
        name: 'sampling_duration',
        type: 'duration',
        unit: 'ms',
        default: 250,
        positive: true,
        modifiable: true,
        description: 'Window over which the rate is measured.',
      },
      {
        name: 'continuous_duration',
        type: 'duration',
        unit: 'ms',
        default: 2000,
        positive: true,
        modifiable: true,
        description: 'Time under the limit after which throttling is forgotten.',
      },
    ],
  },
  {
    name: 'hintfilter',
    type: 'Filter',
    version: VERSION,
    api_version: API,
    maturity: 'Beta',
    description:
      'Reads MaxScale routing hints (-- maxscale route to master|slave|last|server NAME ...) from statement comments for the router.',
    parameters: [],
  },
  {
    name: 'namedserverfilter',
    type: 'Filter',
    version: VERSION,
    api_version: API,
    maturity: 'Beta',
    description: 'Routes statements matching matchNN to targetNN (servers, ->master, ->slave, ->all).',
    parameters: [
      ...Array.from({ length: 25 }, (_, i) => String(i + 1).padStart(2, '0')).flatMap((n): ParamDef[] => [
        {
          name: `match${n}`,
          type: 'regex',
          default: null,
          modifiable: true,
          description: `Statements matching this go to target${n}.`,
        },
        str(
          `target${n}`,
          `Where statements matching match${n} go: server names (comma list), ->master, ->slave or ->all.`,
        ),
      ]),
      {
        name: 'match',
        type: 'regex',
        default: null,
        modifiable: true,
        description: 'Legacy: statements matching this go to server.',
      },
      str('server', 'Legacy: the server for match.'),
      ...sessionFilterParams(['ignorecase']),
    ],
  },
  {
    name: 'MariaDBClient',
    type: 'Protocol',
    version: VERSION,
    api_version: API,
    maturity: 'Beta',
    description: 'The MariaDB client protocol spoken on listeners.',
    parameters: [],
  },
  {
    name: 'MariaDBBackend',
    type: 'Protocol',
    version: VERSION,
    api_version: API,
    maturity: 'Beta',
    description: 'The MariaDB protocol spoken to backend servers.',
    parameters: [],
  },
  {
    name: 'mysql_native_password',
    type: 'Authenticator',
    version: VERSION,
    api_version: API,
    maturity: 'Beta',
    description: 'Authenticates clients against the accounts loaded from the backends.',
    parameters: [],
  },
];

export function findModule(name: string): ModuleInfo | undefined {
  const lower = name.toLowerCase();
  return MODULES.find((m) => m.name.toLowerCase() === lower);
}

export type ObjectKind = 'server' | 'service' | 'listener' | 'monitor' | 'filter';
export const KINDS: ObjectKind[] = ['server', 'monitor', 'service', 'filter', 'listener'];

/** Which module type each kind's `router`/`module` key names. */
export const MODULE_KEY: Partial<Record<ObjectKind, { key: string; type: ModuleType }>> = {
  service: { key: 'router', type: 'Router' },
  monitor: { key: 'module', type: 'Monitor' },
  filter: { key: 'module', type: 'Filter' },
};

/** Core parameters of each kind (module parameters come on top). */
export const CORE_PARAMS: Record<ObjectKind, ParamDef[]> = {
  server: [
    {
      name: 'address',
      type: 'address',
      default: null,
      mandatory: true,
      modifiable: true,
      description: 'Host name or IP address.',
    },
    { name: 'port', type: 'port', default: 3306, modifiable: true, description: 'TCP port.' },
    {
      name: 'protocol',
      type: 'enum',
      default: 'MariaDBBackend',
      enum_values: ['MariaDBBackend', 'mariadbbackend'],
      modifiable: false,
      description: 'Backend protocol.',
    },
    {
      name: 'rank',
      type: 'enum',
      default: 'primary',
      enum_values: ['primary', 'secondary'],
      modifiable: true,
      description: 'Routers prefer primary servers over secondary ones.',
    },
    {
      name: 'priority',
      type: 'int',
      default: 0,
      modifiable: true,
      description: 'Preference when the monitor picks a new primary.',
    },
    {
      name: 'state',
      type: 'enum_mask',
      default: [],
      enum_values: ['maintenance', 'draining'],
      modifiable: false,
      description: 'Administrative state flags (set through the API).',
    },
  ],
  service: [
    {
      name: 'router',
      type: 'string',
      default: null,
      mandatory: true,
      modifiable: false,
      description: 'The router module.',
    },
    {
      name: 'servers',
      type: 'serverlist',
      default: [],
      modifiable: true,
      description: 'Servers to route to, in order.',
    },
    { name: 'filters', type: 'filterlist', default: [], modifiable: true, description: 'The filter chain, in order.' },
    {
      name: 'user',
      type: 'string',
      default: null,
      mandatory: true,
      modifiable: true,
      description: "Account used to load the backends' user accounts.",
    },
    {
      name: 'password',
      type: 'password',
      default: null,
      mandatory: true,
      modifiable: true,
      description: 'Password of user.',
    },
    {
      name: 'root_user',
      type: 'bool',
      default: false,
      modifiable: true,
      description: 'Whether root may connect through this service.',
    },
    {
      name: 'version_string',
      type: 'string',
      default: null,
      modifiable: true,
      description: 'Server version announced to clients.',
    },
    {
      name: 'weightby',
      type: 'string',
      default: null,
      modifiable: true,
      description: 'Server parameter that weighs connections.',
    },
    {
      name: 'connection_timeout',
      type: 'duration',
      unit: 's',
      default: 0,
      modifiable: true,
      description: 'Idle time after which a session is closed (0 = never).',
    },
    {
      name: 'max_connections',
      type: 'count',
      default: 0,
      modifiable: true,
      description: 'Most concurrent clients (0 = unlimited).',
    },
    {
      name: 'strip_db_esc',
      type: 'bool',
      default: true,
      modifiable: true,
      description: 'Strip escape characters from database names in grants.',
    },
    {
      name: 'state',
      type: 'enum',
      default: 'started',
      enum_values: ['started', 'stopped'],
      modifiable: false,
      description: 'Started or stopped (set through the API).',
    },
  ],
  listener: [
    {
      name: 'service',
      type: 'service',
      default: null,
      mandatory: true,
      modifiable: false,
      description: 'The service it feeds.',
    },
    {
      name: 'protocol',
      type: 'enum',
      default: 'MariaDBClient',
      enum_values: ['MariaDBClient', 'mariadbclient', 'MariaDBProtocol', 'mariadbprotocol'],
      modifiable: false,
      description: 'Client protocol.',
    },
    { name: 'address', type: 'address', default: '::', modifiable: false, description: 'Address to bind.' },
    { name: 'port', type: 'port', default: null, mandatory: true, modifiable: false, description: 'Port to bind.' },
    { name: 'ssl', type: 'bool', default: false, modifiable: false, description: 'Whether clients must use TLS.' },
    { name: 'ssl_cert', type: 'path', default: null, modifiable: false, description: 'TLS certificate.' },
    { name: 'ssl_key', type: 'path', default: null, modifiable: false, description: 'TLS private key.' },
    { name: 'ssl_ca_cert', type: 'path', default: null, modifiable: false, description: 'TLS CA certificate.' },
  ],
  monitor: [
    {
      name: 'module',
      type: 'string',
      default: null,
      mandatory: true,
      modifiable: false,
      description: 'The monitor module.',
    },
    { name: 'servers', type: 'serverlist', default: [], modifiable: true, description: 'Servers to watch.' },
    {
      name: 'user',
      type: 'string',
      default: null,
      mandatory: true,
      modifiable: true,
      description: 'Account to monitor with.',
    },
    {
      name: 'password',
      type: 'password',
      default: null,
      mandatory: true,
      modifiable: true,
      description: 'Password of user.',
    },
    {
      name: 'monitor_interval',
      type: 'duration',
      unit: 'ms',
      default: 2000,
      min: 100,
      modifiable: true,
      description: 'Time between monitoring rounds.',
    },
    {
      name: 'connect_timeout',
      type: 'duration',
      unit: 's',
      default: 3,
      positive: true,
      modifiable: true,
      description: 'Connection timeout.',
    },
    {
      name: 'read_timeout',
      type: 'duration',
      unit: 's',
      default: 3,
      positive: true,
      modifiable: true,
      description: 'Read timeout.',
    },
    {
      name: 'write_timeout',
      type: 'duration',
      unit: 's',
      default: 3,
      positive: true,
      modifiable: true,
      description: 'Write timeout.',
    },
    {
      name: 'state',
      type: 'enum',
      default: 'running',
      enum_values: ['running', 'stopped'],
      modifiable: false,
      description: 'Running or stopped (set through the API).',
    },
  ],
  filter: [
    {
      name: 'module',
      type: 'string',
      default: null,
      mandatory: true,
      modifiable: false,
      description: 'The filter module.',
    },
  ],
};

/** Parameters MaxScale's `ssl=required` style also accepts for a listener's ssl flag. */
export const SSL_ALIASES: Record<string, string> = { required: 'true', disabled: 'false', enabled: 'true' };
