/**
 * The one place where errors become HTTP responses: `{error, description, errors?}` with
 * `Content-Type: application/json`, whether the error came from the core (WeirError),
 * the request validator, the body parser or a bug.
 */
import type { ErrorRequestHandler, Response } from 'express';
import { statusTitle, WeirError, type ErrorDetail } from '../core/errors.ts';
import type { WeirLogger } from '../log/logger.ts';

export function sendError(res: Response, err: WeirError): void {
  const body: { error: string; description: string; errors?: ErrorDetail[] } = {
    error: err.error,
    description: err.description,
  };
  if (err.errors?.length) body.errors = err.errors;
  if (err.status === 401) res.setHeader('WWW-Authenticate', 'Basic realm="weir"');
  try {
    res.status(err.status).type('application/json').json(body);
  } catch (validation) {
    // Response validation (on in tests) refused it: a status the operation does not
    // document. Still the Error body, as a 500 that names the gap in the spec.
    if (res.headersSent) return;
    const gap = {
      error: statusTitle(500),
      description: `Weir answered ${err.status} (${err.description}), which the spec does not document for this operation: ${(validation as Error).message}`,
    };
    res.status(500).type('application/json').end(JSON.stringify(gap));
  }
}

/**
 * Turns anything thrown into a WeirError. A client's mistake is a 4xx whoever noticed it:
 * the core (WeirError), the request validator (status and `errors`), the body parser,
 * the router's parameter decoding or any other library error carrying a 4xx `status`
 * (http-errors). Only what carries no client status is a 500, logged as a bug.
 */
export function toWeirError(err: unknown, logger: WeirLogger): WeirError {
  if (err instanceof WeirError) return err;
  const e = err as {
    status?: unknown;
    statusCode?: unknown;
    type?: string;
    message?: string;
    errors?: Array<{ path?: string; message?: string }>;
  };
  if (e?.type === 'entity.parse.failed') return new WeirError(400, `The request body is not valid JSON: ${e.message}.`);
  // The client went away mid-body (or was cut off by admin_request_timeout): nobody reads this answer, and it is no fault of Weir's.
  if (e?.type === 'request.aborted')
    return new WeirError(400, 'The connection closed before the request body arrived.');
  if (e?.type === 'entity.too.large') return new WeirError(413, 'The request body is larger than 1 MiB.');
  if (e?.type === 'charset.unsupported' || e?.type === 'encoding.unsupported') {
    return new WeirError(
      415,
      `${capitalise(e.message ?? 'unsupported body encoding')}; send JSON in UTF-8, optionally with Content-Encoding gzip, deflate or br.`,
    );
  }
  const status = typeof e?.status === 'number' ? e.status : typeof e?.statusCode === 'number' ? e.statusCode : null;
  if (status !== null && status >= 400 && status < 500 && Array.isArray(e.errors)) {
    // express-openapi-validator: list each problem with a JSON-Pointer-like path.
    const errors = e.errors.map((x) => ({
      path: pointer(x.path ?? ''),
      message: (x.message ?? 'is invalid').replace(/\.$/, ''),
    }));
    const description =
      status === 415
        ? `${capitalise(e.message ?? 'unsupported media type')}; see the operation's requestBody in /openapi.json.`
        : `The request does not match the API: ${errors.map((x) => `${x.path} ${x.message}`).join('; ')}.`;
    return new WeirError(status, description, errors);
  }
  if (status !== null && status >= 400 && status < 500) return new WeirError(status, clientMessage(status, e.message));
  logger.error({ err }, 'internal error while serving a request');
  return new WeirError(500, `Weir failed to serve the request: ${e?.message ?? String(err)}`);
}

/** The message of a library's 4xx, as a sentence (a body that is not what its Content-Encoding says, a path that does not decode). */
function clientMessage(status: number, message: string | undefined): string {
  const text = (message ?? '').replace(/\.$/, '');
  if (status === 400 && /decode param/i.test(text)) return `The request path is not valid percent-encoding: ${text}.`;
  if (
    status === 400 &&
    /header check|invalid (block|stored|distance|code)|unexpected end|incorrect|decompress|zlib|brotli/i.test(text)
  ) {
    return `The request body cannot be decoded as its Content-Encoding says: ${text}.`;
  }
  return text ? `${capitalise(text)}.` : `The request was refused (${status}).`;
}

export function errorHandler(logger: WeirLogger): ErrorRequestHandler {
  return (err, _req, res, _next) => {
    const weirError = toWeirError(err, logger);
    if (res.headersSent) return;
    sendError(res, weirError);
  };
}

/** The validator writes `/body/port` or `.body.port`; the client sent `/port`. */
function pointer(path: string): string {
  const p = path.replace(/^\./, '/').replace(/\./g, '/');
  return p.replace(/^\/(body|request\/body)/, '') || '/';
}

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
