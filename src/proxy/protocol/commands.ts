/**
 * The client commands of the MariaDB protocol (the first byte of a command packet), as the
 * MariaDB protocol documentation names them: the only definitions in Weir. The session,
 * the filters, the reply tracker and the routers all read them from here.
 */
export const Command = {
  QUIT: 0x01,
  INIT_DB: 0x02,
  QUERY: 0x03,
  FIELD_LIST: 0x04,
  CREATE_DB: 0x05,
  DROP_DB: 0x06,
  REFRESH: 0x07,
  STATISTICS: 0x09,
  PROCESS_INFO: 0x0a,
  PROCESS_KILL: 0x0c,
  DEBUG: 0x0d,
  PING: 0x0e,
  CHANGE_USER: 0x11,
  STMT_PREPARE: 0x16,
  STMT_EXECUTE: 0x17,
  STMT_SEND_LONG_DATA: 0x18,
  STMT_CLOSE: 0x19,
  STMT_RESET: 0x1a,
  SET_OPTION: 0x1b,
  STMT_FETCH: 0x1c,
  RESET_CONNECTION: 0x1f,
  STMT_BULK_EXECUTE: 0xfa,
} as const;

/** Commands the server never answers. */
export const NO_REPLY: ReadonlySet<number> = new Set<number>([
  Command.QUIT,
  Command.STMT_CLOSE,
  Command.STMT_SEND_LONG_DATA,
]);

/** Whether the server answers `command`: not one of NO_REPLY's, by comparison (asked per statement). */
export function expectsReply(command: number): boolean {
  return command !== Command.QUIT && command !== Command.STMT_CLOSE && command !== Command.STMT_SEND_LONG_DATA;
}

/** Commands whose bytes 1-4 are a prepared statement id. */
export const STATEMENT_ID_COMMANDS: ReadonlySet<number> = new Set<number>([
  Command.STMT_EXECUTE,
  Command.STMT_SEND_LONG_DATA,
  Command.STMT_CLOSE,
  Command.STMT_RESET,
  Command.STMT_FETCH,
  Command.STMT_BULK_EXECUTE,
]);

/** The largest payload of one packet; a payload this long continues in the next packet. */
export const MAX_PAYLOAD = 0xffffff;

/** Server status flags of OK and EOF packets. */
export const Status = {
  IN_TRANS: 0x0001,
  AUTOCOMMIT: 0x0002,
  MORE_RESULTS: 0x0008,
  CURSOR_EXISTS: 0x0040,
  IN_TRANS_READONLY: 0x2000,
} as const;

/** "Direct execution": COM_STMT_EXECUTE of the statement prepared last. */
export const LAST_PREPARED = 0xffffffff;
