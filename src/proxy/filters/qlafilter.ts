/**
 * qlafilter: the query log. Each statement of the sessions it applies to becomes one line of
 * `separator`-separated columns chosen by `log_data`, in MaxScale's column order, under a
 * header line naming them:
 *
 * - `log_type=session`: one file per session, `<filebase>.<session id>`;
 *   `unified`: one file for all sessions, `<filebase>.unified`; `stdout`: standard output.
 * - A line is written when the statement is routed, or, when `log_data` asks for anything
 *   only the reply knows (times, rows, size, warnings, errors, transaction time), when its
 *   reply is complete.
 * - `match`/`exclude`/`options` pick statements; `user`/`source` pick sessions.
 * - `user_match`/`user_exclude`/`source_match`/`source_exclude` pick sessions by regex;
 *   `use_canonical_form` logs statements with literals as `?`; `duration_unit` is
 *   milliseconds (3 decimals) or microseconds.
 * - Newlines in statements become `newline_replacement`; `flush=true` writes every line at
 *   once; `append=false` truncates files when they are opened.
 * - Files are reopened by name on `POST /maxscale/logs/flush` (log rotation).
 *
 * Logged statements: COM_QUERY, and COM_STMT_EXECUTE with the prepared statement's text.
 * Password literals are never written, whatever `log_data` asks: they are masked as `'***'`
 * (src/core/redact.ts), and the error message of a statement that held one loses its
 * `near '…'` excerpt, which could quote the secret.
 */
import { statSync } from 'node:fs';
import type { ConfigObject } from '../../core/objects.ts';
import type { WeirLogger } from '../../log/logger.ts';
import { Command, IN_TRANSACTION, type Reply } from '../protocol/reply-tracker.ts';
import { redactSecrets } from '../../core/redact.ts';
import { canonical } from './canonical.ts';
import { LogFile } from './log-file.ts';
import { matcher } from './matching.ts';
import type { FilterInstance, FilterSession, SessionInfo, Statement } from './types.ts';

/** MaxScale's column order and header names. */
const COLUMNS: Array<[string, string]> = [
  ['service', 'Service'],
  ['session', 'Session'],
  ['date', 'Date'],
  ['user', 'User@Host'],
  ['reply_time', 'Reply_time'],
  ['total_reply_time', 'Total_reply_time'],
  ['query', 'Query'],
  ['default_db', 'Default_DB'],
  ['num_rows', 'Num_rows'],
  ['reply_size', 'Reply_size'],
  ['transaction', 'Transaction'],
  ['transaction_time', 'Transaction_time'],
  ['num_warnings', 'Num_warnings'],
  ['error_msg', 'Error_msg'],
];
const NEEDS_REPLY = new Set([
  'reply_time',
  'total_reply_time',
  'num_rows',
  'reply_size',
  'transaction',
  'transaction_time',
  'num_warnings',
  'error_msg',
]);

export function qlafilter(filter: ConfigObject, logger?: WeirLogger): FilterInstance {
  const p = filter.params;
  const filebase = String(p.filebase);
  const types = p.log_type as string[];
  const wanted = new Set(p.log_data as string[]);
  const columns = COLUMNS.filter(([key]) => wanted.has(key));
  const separator = String(p.separator ?? ',');
  const newline = String(p.newline_replacement ?? ' ');
  const onReply = columns.some(([key]) => NEEDS_REPLY.has(key));
  const toStdout = types.includes('stdout');
  const canonicalForm = p.use_canonical_form === true;
  const micro = p.duration_unit === 'microseconds' || p.duration_unit === 'us';
  const duration = (ms: number) => (micro ? String(Math.round(Math.max(0, ms) * 1000)) : Math.max(0, ms).toFixed(3));
  const options = { append: p.append !== false, flush: p.flush === true };
  const match = matcher(filter);
  const header = columns.map(([, name]) => name).join(separator) + '\n';

  const onError = (err: Error) =>
    logger?.error(
      { filter: filter.name, err: err.message },
      `filter '${filter.name}' could not write its log: ${err.message}`,
    );
  const open = (path: string) =>
    new LogFile(path, { ...options, header: needsHeader(path, options.append) ? header : undefined, onError });
  const unified = types.includes('unified') ? open(`${filebase}.unified`) : null;
  const perSession = new Set<LogFile>();
  let sessions = 0;
  let retired = false;

  return {
    newSession(info: SessionInfo): FilterSession | null {
      if (!match.session(info)) return null;
      const own = types.includes('session') ? open(`${filebase}.${info.id}`) : null;
      if (own) perSession.add(own);
      sessions++;
      let transaction = 0;
      let inTransaction = false;
      let transactionStarted = 0;

      const write = (statement: Statement, reply: Reply | null) => {
        const now = performance.now();
        let transactionTime = '';
        if (reply) {
          const nowIn = (reply.status & IN_TRANSACTION) !== 0;
          if (nowIn && !inTransaction) {
            transaction++;
            transactionStarted = statement.routedAt;
          }
          if (!nowIn && inTransaction) transactionTime = duration(now - transactionStarted);
          inTransaction = nowIn;
        }
        // Only the columns log_data asks for are worked out: this runs for every statement.
        const sql = redactSecrets(statement.sql);
        const value = (key: string): string => {
          switch (key) {
            case 'service':
              return info.service;
            case 'session':
              return String(info.id);
            case 'date':
              return localTime(new Date(statement.arrivedAt));
            case 'user':
              return `${info.user}@${info.address}`;
            case 'reply_time':
              return reply ? duration(reply.firstByteAt - statement.routedAt) : '';
            case 'total_reply_time':
              return reply ? duration(reply.completedAt - statement.routedAt) : '';
            case 'query':
              return (canonicalForm ? canonical(sql) : sql).replace(/\r?\n/g, newline);
            case 'default_db':
              return info.defaultDb() ?? '';
            case 'num_rows':
              return reply ? String(reply.rows) : '';
            case 'reply_size':
              return reply ? String(reply.size) : '';
            case 'transaction':
              return inTransaction || transactionTime ? String(transaction) : '';
            case 'transaction_time':
              return transactionTime;
            case 'num_warnings':
              return reply ? String(reply.warnings) : '';
            case 'error_msg':
              return reply?.error
                ? errorText(reply.error.message, sql !== statement.sql).replace(/\r?\n/g, newline)
                : '';
            default:
              return '';
          }
        };
        const line = columns.map(([key]) => value(key)).join(separator) + '\n';
        own?.write(line);
        unified?.write(line);
        if (toStdout) process.stdout.write(line);
      };
      const logged = (s: Statement) => s.command !== Command.STMT_PREPARE && match.statement(s.sql);

      return {
        statement(s) {
          if (!onReply && logged(s)) write(s, null);
        },
        reply(s, r) {
          if (onReply && logged(s)) write(s, r);
        },
        close() {
          own?.close();
          if (own) perSession.delete(own);
          if (--sessions === 0 && retired) unified?.close();
        },
      };
    },
    reopen() {
      unified?.reopen();
      for (const f of perSession) f.reopen();
    },
    retire() {
      retired = true;
      if (sessions === 0) unified?.close();
    },
  };
}

/** MariaDB's syntax errors quote the statement (`near '…' at line 1`); of a statement with a password, not. */
function errorText(message: string, hadSecret: boolean): string {
  return hadSecret ? message.replace(/near '[\s\S]*' at line/, "near '***' at line") : message;
}

function needsHeader(path: string, append: boolean): boolean {
  if (!append) return true;
  try {
    return statSync(path).size === 0;
  } catch {
    return true;
  }
}

/** MaxScale's date column: local time, `YYYY-MM-DD hh:mm:ss`. */
const pad = (n: number) => String(n).padStart(2, '0');

function localTime(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
