/**
 * The query classifier as the admin API and the command API show it (MaxScale's
 * `/maxscale/query_classifier`): the classification of a statement in MaxScale's terms, the
 * cache's budget and counters, and its most used forms.
 */
import { classify, typeMaskNames, type Classification } from './classify.ts';
import {
  canonicalSelect,
  classifierCacheLimit,
  classifierCacheStats,
  classifierCacheTop,
  classifierCacheUsage,
} from './classifier-cache.ts';

export interface ClassificationView {
  parse_result: 'QC_QUERY_TOKENIZED';
  type_mask: string;
  tables: string[];
  multi_statement: boolean;
  relates_to_previous: boolean;
  uses_lock: boolean;
  call: boolean;
  read_only_trx: boolean;
  isolation: string | null;
  created_temporary: string | null;
  dropped: string[];
  prepared_name: string | null;
  prepared_sql: string | null;
  kill: { id: number; query: boolean } | null;
}

export function classificationView(c: Classification): ClassificationView {
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

/** One statement classified afresh: neither read from the cache nor added to it. */
export function classifyForAdmin(sql: string): {
  sql: string;
  canonical: string | null;
  classification: ClassificationView;
} {
  return { sql, canonical: canonicalSelect(sql), classification: classificationView(classify(sql)) };
}

export function classifierState(): {
  cache_size: number;
  cache: { size: number; entries: number; inserts: number; hits: number; misses: number; evictions: number };
} {
  const usage = classifierCacheUsage();
  return {
    cache_size: classifierCacheLimit(),
    cache: { size: usage.bytes, entries: usage.entries, ...classifierCacheStats },
  };
}

export function topClassifications(
  top: number,
): Array<{ canonical: string; hits: number; classification: ClassificationView }> {
  return classifierCacheTop(top).map((e) => ({
    canonical: e.canonical,
    hits: e.hits,
    classification: classificationView(e.classification),
  }));
}
