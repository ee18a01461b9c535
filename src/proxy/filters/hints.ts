/**
 * MaxScale's routing hint syntax (hintfilter; readwritesplit reference §9.1), parsed from
 * the comments of a statement: `-- ` (two dashes and a space), `#` and `/* *\/` comments,
 * quoted strings skipped. Every comment whose text starts with `maxscale` may give a hint;
 * keywords are lower case, and anything that does not parse gives nothing.
 *
 *     maxscale route to master|slave|last
 *     maxscale route to server <name>
 *     maxscale <key>=<value>                 (max_slave_replication_lag=N)
 *     maxscale <name> prepare <definition>   (define a named hint)
 *     maxscale <name> begin [<definition>]   (push a named hint; start = begin)
 *     maxscale begin <definition>            (push an anonymous hint)
 *     maxscale end                           (pop; stop = end)
 */
import type { Hint } from '../routing/router.ts';

/** The texts of the statement's comments (not executable `/*!` ones, which are SQL). */
export function comments(sql: string): string[] {
  const out: string[] = [];
  const n = sql.length;
  for (let i = 0; i < n; i++) {
    const c = sql[i]!;
    if (c === "'" || c === '"' || c === '`') {
      for (i++; i < n && sql[i] !== c; i++) if (sql[i] === '\\' && c !== '`') i++;
      continue;
    }
    if (c === '#' || (c === '-' && sql[i + 1] === '-' && sql[i + 2] === ' ')) {
      const end = sql.indexOf('\n', i);
      out.push(sql.slice(i + (c === '#' ? 1 : 3), end < 0 ? n : end));
      i = end < 0 ? n : end;
      continue;
    }
    if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      out.push(sql.slice(i + 2, end < 0 ? n : end));
      i = end < 0 ? n : end + 1;
    }
  }
  return out;
}

function tokens(text: string): string[] {
  return text.replace(/=/g, ' = ').trim().split(/\s+/).filter(Boolean);
}

/** A hint definition: `route to ...` or `key=value`; null when it does not parse. */
function definition(t: string[]): Hint | null {
  if (t[0] === 'route' && t[1] === 'to') {
    if (t.length === 3 && (t[2] === 'master' || t[2] === 'slave' || t[2] === 'last')) return { type: t[2] };
    if (t.length === 4 && t[2] === 'server') return { type: 'server', server: t[3]! };
    return null;
  }
  if (t.length === 3 && t[1] === '=') {
    // Only max_slave_replication_lag is a routing hint (MaxScale ignores other keys).
    if (t[0]!.startsWith('max_slave_replication_lag')) {
      const seconds = Number(t[2]);
      return Number.isFinite(seconds) ? { type: 'lag', seconds } : null;
    }
  }
  return null;
}

/** One session's hint state: named hints and the stack `begin`/`end` manage. */
export class HintSession {
  private readonly named = new Map<string, Hint>();
  private readonly stack: Hint[] = [];

  /** The hints for this statement (its own, else the top of the stack); null when none. */
  hints(sql: string): Hint[] | null {
    const own: Hint[] = [];
    for (const text of comments(sql)) {
      const t = tokens(text);
      if (t[0] !== 'maxscale' || t.length < 2) continue;
      const rest = t.slice(1);
      if (rest.length === 1 && (rest[0] === 'end' || rest[0] === 'stop')) {
        this.stack.pop();
        continue;
      }
      if (rest[0] === 'begin' || rest[0] === 'start') {
        const h = definition(rest.slice(1));
        if (h) {
          this.stack.push(h);
          own.push(h);
        }
        continue;
      }
      if (rest.length >= 2 && rest[1] === 'prepare') {
        const h = definition(rest.slice(2));
        if (h) this.named.set(rest[0]!, h);
        continue;
      }
      if (rest.length >= 2 && (rest[1] === 'begin' || rest[1] === 'start')) {
        const h = rest.length > 2 ? definition(rest.slice(2)) : (this.named.get(rest[0]!) ?? null);
        if (h) {
          this.named.set(rest[0]!, h);
          this.stack.push(h);
          own.push(h);
        }
        continue;
      }
      const h = definition(rest);
      if (h) own.push(h);
    }
    if (own.length) return own;
    const top = this.stack[this.stack.length - 1];
    return top ? [top] : null;
  }
}
