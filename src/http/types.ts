/**
 * The typed handler map. Every operation of the spec has exactly one handler, keyed by
 * its operationId; a missing operation, a wrong parameter name or a response body that
 * does not match the spec is a compile error. Handlers return data; src/http/app.ts
 * turns it into the HTTP response (status, headers, fields/range, conditional requests).
 */
import type { operations } from '../../generated/api.d.ts';
import type { AdminUser } from '../core/users.ts';
import type { WeirContext } from '../context.ts';
import type { Projection } from './projection.ts';

export type OperationId = keyof operations;
type Op<K extends OperationId> = operations[K];

type PathParams<K extends OperationId> = Op<K>['parameters'] extends { path: infer P }
  ? NonNullable<P>
  : Record<string, never>;
type QueryParams<K extends OperationId> = Op<K>['parameters'] extends { query?: infer Q }
  ? NonNullable<Q>
  : Record<string, never>;
type RequestBody<K extends OperationId> =
  Op<K> extends { requestBody: { content: infer C } }
    ? C[keyof C]
    : NonNullable<Op<K>['requestBody']> extends { content: infer C }
      ? C[keyof C] | undefined // optional body
      : undefined;

type Responses<K extends OperationId> = Op<K>['responses'];
type SuccessStatus<K extends OperationId> = Extract<keyof Responses<K>, 200 | 201 | 202 | 204>;
type JsonBody<R> = R extends { content: { 'application/json': infer B } }
  ? B
  : R extends { content: { 'text/plain': infer B } }
    ? B // GET /metrics
    : never;

export interface Request<K extends OperationId> {
  weir: WeirContext;
  user: AdminUser;
  params: PathParams<K>;
  query: QueryParams<K>;
  body: RequestBody<K>;
}

/** What a reply with a body may add to it, for the app to send (any operation). */
export interface ReplyOptions {
  /** When the resource last changed (Last-Modified, If-Modified-Since). */
  lastModified?: Date;
  /** Path of a created resource. */
  location?: string;
  /** A body sent as it is with this type instead of as JSON (GET /metrics). */
  contentType?: string;
  /**
   * The body's JSON text (or its UTF-8 bytes) when the handler has it cheaper than
   * `JSON.stringify(body)` (GET /sessions keeps each session's bytes). While
   * validating, the app checks that the two agree.
   */
  text?: string | Buffer;
  /**
   * The ETag, when the handler has one cheaper than hashing the text; it must differ
   * whenever the text does (GET /sessions hashes what its bytes are made of).
   */
  etag?: string;
  /** Called once the response is closed: the text's memory may be reused (GET /sessions). */
  release?: () => void;
  /**
   * The `fields`/`range` projection of the body, made by the handler without building
   * what was not asked for. While validating, the app checks it against the generic one.
   */
  select?: (p: Projection) => unknown;
}

/** A success response: its status, and for statuses with a body, the body. */
export type Reply<K extends OperationId> = {
  [S in SuccessStatus<K>]: [JsonBody<Responses<K>[S]>] extends [never]
    ? { status: S }
    : { status: S; body: JsonBody<Responses<K>[S]> } & ReplyOptions;
}[SuccessStatus<K>];

export type Handler<K extends OperationId> = (req: Request<K>) => Reply<K> | Promise<Reply<K>>;
export type Handlers = { [K in OperationId]: Handler<K> };

/** A file's share of the map: only operations of the spec, each with the right type. */
export type HandlerGroup<K extends OperationId> = { [P in K]: Handler<P> };
