/**
 * The admin API's HTTP server: the limits that keep a slow or hostile client from holding
 * it (and the descriptors it shares with the data plane), and the documented error body
 * for requests Node's parser rejects before the app sees them.
 *
 * - `admin_headers_timeout` / `admin_request_timeout`: headers, and the whole request with
 *   its body, must arrive in time (408 otherwise); a body dribbled in a byte at a time is cut.
 * - `admin_keepalive_timeout`: an idle kept-alive connection is closed.
 * - `admin_idle_timeout`: a connection with no traffic either way (a client that stopped
 *   reading its response) is closed.
 * - `admin_max_connections`: further connections are closed as soon as they are accepted.
 */
import { createServer, STATUS_CODES, type RequestListener, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Globals } from '../config/globals.ts';
import type { WeirLogger } from '../log/logger.ts';

/** How often Node looks for requests past their timeouts: often enough for small test timeouts, at most once a second. */
function checkingInterval(headersMs: number, requestMs: number): number {
  const limits = [headersMs, requestMs].filter((ms) => ms > 0);
  return limits.length ? Math.min(1000, Math.max(50, Math.floor(Math.min(...limits) / 4))) : 1000;
}

type AdminLimits = Pick<
  Globals,
  | 'admin_request_timeout'
  | 'admin_headers_timeout'
  | 'admin_keepalive_timeout'
  | 'admin_idle_timeout'
  | 'admin_max_connections'
>;

export function createAdminServer(app: RequestListener, limits: AdminLimits, logger: WeirLogger): Server {
  const requestTimeout = limits.admin_request_timeout;
  // Node requires the headers' limit to be within the whole request's.
  const headersTimeout =
    requestTimeout > 0 && (limits.admin_headers_timeout === 0 || limits.admin_headers_timeout > requestTimeout)
      ? requestTimeout
      : limits.admin_headers_timeout;
  const server = createServer(
    {
      requestTimeout,
      headersTimeout,
      keepAliveTimeout: limits.admin_keepalive_timeout,
      connectionsCheckingInterval: checkingInterval(headersTimeout, requestTimeout),
    },
    app,
  );
  server.timeout = limits.admin_idle_timeout;
  server.maxConnections = limits.admin_max_connections;
  server.on('drop', (peer?: { remoteAddress?: string }) => {
    logger.warning(
      {
        kind: 'admin-connection-refused',
        address: peer?.remoteAddress,
        admin_max_connections: limits.admin_max_connections,
      },
      `admin API connection refused: admin_max_connections (${limits.admin_max_connections}) reached`,
    );
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) =>
    answerClientError(err, socket, { requestTimeout, headersTimeout }),
  );
  return server;
}

/** What Node's parser (or its timeouts) rejected, in the API's `{error, description}` form; the connection then closes. */
function answerClientError(
  err: NodeJS.ErrnoException,
  socket: Socket,
  timeouts: { requestTimeout: number; headersTimeout: number },
): void {
  // A response already started on this connection cannot be followed by another.
  const pending = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || pending?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, description] = describe(err, timeouts);
  const body = JSON.stringify({ error: STATUS_CODES[status] ?? 'Bad Request', description });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n${body}`,
  );
  // A peer that never reads the answer does not get to keep the socket.
  setTimeout(() => socket.destroy(), 1000).unref();
}

function describe(err: NodeJS.ErrnoException, t: { requestTimeout: number; headersTimeout: number }): [number, string] {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return [
        431,
        'The request line and headers are larger than the admin API accepts (16 KiB in all); shorten the URL or the headers.',
      ];
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [
        408,
        `The request did not arrive in time: headers within admin_headers_timeout (${t.headersTimeout} ms), ` +
          `headers and body within admin_request_timeout (${t.requestTimeout} ms).`,
      ];
    default:
      return [400, `The request is not valid HTTP/1.1: ${err.message.replace(/^Parse Error: /, '')}.`];
  }
}
