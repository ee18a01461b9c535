import { readdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import type { components } from '../../../generated/api.d.ts';
import { notFound } from '../../core/errors.ts';
import { findModule, MODULES, type ModuleInfo } from '../../core/modules.ts';
import { assertThrottlingWritable, formatThrottling } from '../../config/globals.ts';
import type { WeirContext } from '../../context.ts';
import { iso, isoOrNull } from '../links.ts';
import { applyResourcePatch } from '../patch.ts';
import type { HandlerGroup } from '../types.ts';
import {
  canonicalSelect,
  classifierCacheLimit,
  classifierCacheStats,
  classifierCacheTop,
  classifierCacheUsage,
  setClassifierCacheLimit,
} from '../../proxy/routing/readwritesplit/classifier-cache.ts';
import { classify, typeMaskNames, type Classification } from '../../proxy/routing/readwritesplit/classify.ts';

type Logs = components['schemas']['Logs'];
type QueryClassifier = components['schemas']['QueryClassifier'];
type StatementClassification = components['schemas']['StatementClassification'];
type Module = components['schemas']['Module'];
type ModuleParameter = components['schemas']['ModuleParameter'];

function logsView(weir: WeirContext): Logs {
  const log = weir.log;
  return {
    logdir: log.options.logdir,
    log_file: log.file,
    maxlog: true,
    syslog: false,
    log_levels: { ...log.levels },
    log_augmentation: 0,
    log_throttling: { ...log.throttling },
    last_flushed: isoOrNull(log.lastFlushed),
  };
}

/** A classification in MaxScale's terms (`/maxscale/query_classifier`). */
function classificationView(c: Classification): StatementClassification {
  return {
    // A tokenizer and rules, never a parse tree: MaxScale's word for that is "tokenized".
    parse_result: 'QC_QUERY_TOKENIZED',
    type_mask: typeMaskNames(c.type),
    tables: [...c.tables],
    multi_statement: c.multiStatement,
    relates_to_previous: c.relatesToPrevious,
    uses_lock: c.usesLock,
    call: c.call,
    read_only_trx: c.readOnlyTrx,
    isolation: c.isolation,
    created_temporary: c.createdTemporary,
    dropped: [...c.dropped],
    prepared_name: c.preparedName,
    prepared_sql: c.preparedSql,
    kill: c.kill ? { ...c.kill } : null,
  };
}

function classifierView(): QueryClassifier {
  const usage = classifierCacheUsage();
  return {
    cache_size: classifierCacheLimit(),
    cache: { size: usage.bytes, entries: usage.entries, ...classifierCacheStats },
  };
}

function moduleView(m: ModuleInfo): Module {
  return {
    name: m.name,
    type: m.type,
    version: m.version,
    api_version: m.api_version,
    maturity: m.maturity,
    description: m.description,
    parameters: m.parameters.map((p) => {
      const out: ModuleParameter = {
        name: p.name,
        type: p.type,
        default: p.default,
        mandatory: p.mandatory === true,
        modifiable: p.modifiable === true,
        description: p.description,
      };
      if (p.enum_values) out.enum_values = p.enum_values;
      if (p.unit) out.unit = p.unit;
      return out;
    }),
  };
}

/** Open descriptors of this process (Linux); 0 where /proc is not there. */
function openDescriptors(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return 0;
  }
}

const LOG_MODIFIABLE = /^\/(log_levels\/(warning|notice|info|debug)|log_throttling(\/(limit|window|suppression))?)$/;

export const maxscaleHandlers: HandlerGroup<
  | 'getMaxscale'
  | 'getThreads'
  | 'getLogs'
  | 'patchLogs'
  | 'flushLogs'
  | 'listTasks'
  | 'listModules'
  | 'getModule'
  | 'getQueryClassifier'
  | 'patchQueryClassifier'
  | 'classifyStatement'
  | 'listClassifierCache'
> = {
  getMaxscale: ({ weir }) => {
    const i = weir.info;
    return {
      status: 200,
      body: {
        version: i.version,
        commit: i.commit,
        started: iso(i.started),
        uptime: (Date.now() - i.started.getTime()) / 1000,
        pid: process.pid,
        user: userInfo().username,
        threads: 1,
        config: i.config,
        datadir: i.datadir,
        logdir: i.logdir,
        node_version: process.version,
        admin_host: i.adminHost,
        admin_port: i.adminPort,
        config_sync: weir.configSync?.view() ?? null,
      },
      // The sync state moves with the cluster: never a stale 304.
      lastModified: weir.configSync ? new Date() : i.started,
    };
  },

  getThreads: ({ weir }) => {
    const cpu = process.cpuUsage();
    return {
      status: 200,
      body: {
        load_average: { historic: weir.load.historic(), current: weir.load.current, ...weir.load.averages },
        threads: [
          {
            id: 0,
            state: 'active',
            file_descriptors: openDescriptors(),
            event: [...new Set(process.getActiveResourcesInfo())].sort(),
            run_time: (cpu.user + cpu.system) / 1e6,
            query_classifier_cache: { size: classifierCacheUsage().bytes, ...classifierCacheStats },
          },
        ],
      },
      lastModified: new Date(),
    };
  },

  getLogs: ({ weir }) => ({ status: 200, body: logsView(weir), lastModified: weir.log.lastModified }),

  patchLogs: ({ weir, body }) => {
    const after = applyResourcePatch(logsView(weir), body, {
      schema: 'Logs',
      modifiable: (p) => LOG_MODIFIABLE.test(p),
    });
    assertThrottlingWritable(after.log_throttling);
    // Persist first: a failed write changes nothing.
    weir.store.saveGlobals({
      log_warning: String(after.log_levels.warning),
      log_notice: String(after.log_levels.notice),
      log_info: String(after.log_levels.info),
      log_debug: String(after.log_levels.debug),
      log_throttling: formatThrottling(after.log_throttling),
    });
    weir.log.setLevels({ ...after.log_levels, error: true }, after.log_throttling);
    weir.log.logger.notice({ log_levels: after.log_levels, log_throttling: after.log_throttling }, 'logging changed');
    return { status: 200, body: logsView(weir), lastModified: weir.log.lastModified };
  },

  flushLogs: ({ weir }) => {
    weir.log.flush();
    weir.log.logger.notice('log file reopened');
    return { status: 204 };
  },

  listTasks: ({ weir }) => ({
    status: 200,
    body: weir.scheduler.list().map((t) => ({
      name: t.name,
      type: 'repeated' as const,
      frequency: t.frequencyMs / 1000,
      next_due: iso(t.nextDue),
    })),
    lastModified: weir.info.started,
  }),

  listModules: () => ({ status: 200, body: MODULES.map(moduleView), lastModified: new Date(0) }),

  getModule: ({ params }) => {
    const m = findModule(params.name);
    if (!m) throw notFound(`There is no module named '${params.name}'; GET /maxscale/modules lists them.`);
    return { status: 200, body: moduleView(m), lastModified: new Date(0) };
  },

  // The counters move with every statement: never a stale 304.
  getQueryClassifier: () => ({ status: 200, body: classifierView(), lastModified: new Date() }),

  patchQueryClassifier: ({ weir, body }) => {
    const after = applyResourcePatch(classifierView(), body, {
      schema: 'QueryClassifier',
      modifiable: (p) => p === '/cache_size',
    });
    // Persist first: a failed write changes nothing.
    weir.store.saveGlobals({ query_classifier_cache_size: String(after.cache_size) });
    weir.globals.query_classifier_cache_size = after.cache_size;
    setClassifierCacheLimit(after.cache_size);
    weir.log.logger.notice({ query_classifier_cache_size: after.cache_size }, 'query classifier cache size changed');
    return { status: 200, body: classifierView(), lastModified: new Date() };
  },

  // Classified afresh: the cache is neither read nor filled by looking.
  classifyStatement: ({ query }) => ({
    status: 200,
    body: {
      sql: query.sql,
      canonical: canonicalSelect(query.sql),
      classification: classificationView(classify(query.sql)),
    },
    lastModified: new Date(),
  }),

  listClassifierCache: ({ query }) => ({
    status: 200,
    body: classifierCacheTop(query.top ?? 20).map((e) => ({
      canonical: e.canonical,
      hits: e.hits,
      classification: classificationView(e.classification),
    })),
    lastModified: new Date(),
  }),
};
