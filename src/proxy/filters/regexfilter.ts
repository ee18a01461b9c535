/**
 * regexfilter: rewrites statements before they are routed. Every match of `match` (with
 * `options`) is replaced by `replace`, where `$1`... refer to groups; the client gets the
 * result of the rewritten statement. `user`/`source` limit it to some sessions; with
 * `log_file`, every rewrite is logged there with the session and both texts; with
 * `log_trace`, matches and misses go to Weir's log at the info level.
 * Applies to COM_QUERY and COM_STMT_PREPARE (a prepared statement is rewritten once).
 * Both texts have their password literals masked in the log file and the trace lines.
 */
import type { ConfigObject } from '../../core/objects.ts';
import type { WeirLogger } from '../../log/logger.ts';
import { redactSecrets } from '../../core/redact.ts';
import { Command } from '../protocol/reply-tracker.ts';
import { LogFile } from './log-file.ts';
import { regexOption, sessionMatcher } from './matching.ts';
import type { FilterInstance, FilterSession, SessionInfo } from './types.ts';

export function regexfilter(filter: ConfigObject, logger: WeirLogger): FilterInstance {
  const p = filter.params;
  const options = p.options as string[];
  const search = regexOption(p, 'match', options)!;
  const replacement = String(p.replace ?? '');
  const appliesTo = sessionMatcher(filter);
  const log =
    typeof p.log_file === 'string' && p.log_file !== '' ? new LogFile(p.log_file, { append: true, flush: true }) : null;
  const trace = p.log_trace === true;
  let sessions = 0;
  let retired = false;

  return {
    newSession(info: SessionInfo): FilterSession | null {
      if (!appliesTo(info)) return null;
      sessions++;
      return {
        statement(s) {
          if (s.command === Command.STMT_EXECUTE) return;
          if (!search.test(s.sql)) {
            if (trace)
              logger.info(
                { filter: filter.name, session: info.id },
                `regexfilter '${filter.name}': no match: [${redactSecrets(s.sql)}]`,
              );
            return;
          }
          const sql = search.replaceAll(s.sql, replacement);
          if (log || trace) {
            const [before, after] = [redactSecrets(s.sql), redactSecrets(sql)];
            log?.write(
              `${new Date().toISOString()} session ${info.id} ${info.user}@${info.address}: [${before}] -> [${after}]\n`,
            );
            if (trace)
              logger.info(
                { filter: filter.name, session: info.id },
                `regexfilter '${filter.name}': matched: [${before}] -> [${after}]`,
              );
          }
          return { sql };
        },
        close() {
          if (--sessions === 0 && retired) log?.close();
        },
      };
    },
    reopen() {
      log?.reopen();
    },
    retire() {
      retired = true;
      if (sessions === 0) log?.close();
    },
  };
}
