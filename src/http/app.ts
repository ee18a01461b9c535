/**
 * The admin HTTP app. Middleware order, as express-openapi-validator's examples have it:
 * prefix and method rewriting -> public docs -> authentication -> body parsing -> path and
 * method checks (404/405/Allow) -> the validator -> handlers by operationId -> one error
 * handler.
 */
import express, { type Request as ExpressRequest, type Response } from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import swaggerUi from 'swagger-ui-express';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { notFound, WeirError } from '../core/errors.ts';
import type { WeirContext } from '../context.ts';
import { dashboardPage, dashboardScript } from '../dashboard/serve.ts';
import { LoginThrottle } from '../core/login-throttle.ts';
import { authenticate } from './auth.ts';
import { checkWritePreconditions, etagOf, etagOfText, hasWritePreconditions, notModified } from './conditional.ts';
import { checkBodyShape } from './body-shape.ts';
import { errorHandler, sendError } from './errors.ts';
import { handlers } from './handlers/index.ts';
import { lenientBodies } from './lenient-bodies.ts';
import { parseProjection, project, type Projection } from './projection.ts';
import { schemaValidator } from './schemas.ts';
import { buildRoutes, loadSpec, matchRoute, METHODS, SPEC_PATH, SPEC_YAML_PATH, type Route } from './spec.ts';
import type { Handler, OperationId, ReplyOptions } from './types.ts';

export interface AppOptions {
  /** Validate every response against the spec (on in tests: a mismatch is a 500). */
  validateResponses: boolean;
}

const CONSOLE_PAGE = fileURLToPath(new URL('../console/page.html', import.meta.url));
const HOME_PAGE = fileURLToPath(new URL('./home.html', import.meta.url));
const JSON_TYPES = ['application/json', 'application/json-patch+json', 'application/json-patch', 'application/*+json'];

export function createApp(weir: WeirContext, options: AppOptions): express.Express {
  const spec = loadSpec();
  const routes = buildRoutes(spec);
  const byOperation = new Map<string, Route>();
  for (const r of routes) for (const id of Object.values(r.operations)) byOperation.set(id!, r);
  const throttle = new LoginThrottle(() => weir.globals.admin_auth_failure_delay);
  weir.scheduler.repeat('admin_login_throttle_purge', 60_000, () => throttle.purge());

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  // Requests and durations by path template (the route is known once the spec matched it).
  app.use((req, res, next) => {
    const startedAt = performance.now();
    res.once('finish', () =>
      weir.metrics.adminRequest(
        req.method,
        (res.locals.route as Route | undefined)?.template ?? publicRoute(req.originalUrl),
        res.statusCode,
        (performance.now() - startedAt) / 1000,
      ),
    );
    next();
  });

  app.use((req, res, next) => {
    res.setHeader('Cache-Control', 'no-cache');
    // `/v1/...` is an alias of every path.
    // The validator routes by originalUrl, so both are rewritten.
    if (req.url === '/v1' || req.url.startsWith('/v1/') || req.url.startsWith('/v1?')) {
      req.url = req.url.slice(3) || '/';
      req.originalUrl = req.url;
    }
    // A PUT or POST may carry another method, for clients that cannot send it.
    const override = req.get('X-HTTP-Method-Override')?.toUpperCase();
    if (override && (req.method === 'POST' || req.method === 'PUT')) {
      if (!['PATCH', 'POST', 'DELETE'].includes(override)) {
        return sendError(
          res,
          new WeirError(400, `X-HTTP-Method-Override may be PATCH, POST or DELETE, not '${override}'.`),
        );
      }
      req.method = override;
    }
    next();
  });

  // Public: the spec and Swagger UI.
  app.get('/openapi.json', (_req, res) => res.type('application/json').send(readFileSync(SPEC_PATH)));
  app.get('/openapi.yaml', (_req, res) => res.type('application/yaml').send(readFileSync(SPEC_YAML_PATH)));
  app.use(
    '/docs',
    swaggerUi.serve,
    swaggerUi.setup(spec, {
      customSiteTitle: 'Weir admin API',
      swaggerOptions: { persistAuthorization: true, tryItOutEnabled: false, displayOperationId: true },
    }),
  );
  app.get('/', (_req, res) => res.type('html').send(readFileSync(HOME_PAGE)));

  app.use(authenticate(weir, throttle));
  app.get('/console', (_req, res) => res.type('html').send(readFileSync(CONSOLE_PAGE)));
  app.get('/dashboard', (_req, res) => res.type('html').send(dashboardPage(res.locals.user.role)));
  app.get('/dashboard.js', (_req, res, next) => dashboardScript().then((js) => res.type('js').send(js), next));
  app.use(express.json({ type: JSON_TYPES, limit: '1mb' }));
  app.use(checkBodyShape);

  // Paths and methods come from the spec: 404 for an unknown path, 405 with Allow for an
  // unsupported method, Allow and Accept-Patch on every answer of a known path.
  app.use((req, res, next) => {
    const match = matchRoute(routes, req.path);
    if (!match)
      return sendError(
        res,
        notFound(`There is no resource at ${req.path}; see /openapi.json for the paths Weir serves.`),
      );
    const methods = METHODS.filter((m) => match.route.operations[m]).map((m) => m.toUpperCase());
    const allow = [...methods, ...(methods.includes('GET') ? ['HEAD'] : []), 'OPTIONS'].join(', ');
    res.setHeader('Allow', allow);
    if (match.route.operations.patch)
      res.setHeader('Accept-Patch', 'application/json-patch+json, application/merge-patch+json');
    if (req.method === 'OPTIONS') return res.status(204).end();
    // HEAD is a GET whose body Node drops (it knows the request was HEAD).
    if (req.method === 'HEAD') req.method = 'GET';
    if (!methods.includes(req.method)) {
      return sendError(
        res,
        new WeirError(
          405,
          `The ${match.route.template} resource does not support ${req.method}; it supports ${methods.join(', ')}.`,
        ),
      );
    }
    res.locals.route = match.route;
    next();
  });

  app.use(lenientBodies(spec));

  // `fields` and `range` are applied after response validation: the validator sees the
  // full representation, the client gets the projection it asked for.
  app.use((req, res, next) => {
    if (req.method === 'GET') {
      const projection = parseProjection(req.query as Record<string, unknown>, res.locals.route as Route);
      const json = res.json.bind(res);
      // A projection the handler made itself (`select`) is sent as it is.
      res.json = (body: unknown) =>
        json(res.statusCode === 200 ? (res.locals.projected ?? project(body, projection)) : body);
      res.locals.projection = projection satisfies Projection;
    }
    next();
  });

  // The command API answers requests outside its shapes itself (200, `state: FAILED`), as
  // its contract says, so the request validator does not see it; in tests its replies are
  // checked against the spec here.
  app.post('/api', runner('runCommandApi', options.validateResponses ? 'ApiResponse' : null));

  app.use(
    OpenApiValidator.middleware({
      apiSpec: SPEC_PATH,
      validateRequests: { allowUnknownQueryParameters: false },
      validateResponses: options.validateResponses,
      validateSecurity: false,
      operationHandlers: {
        basePath: '/',
        resolver: (_base: string, route: { openApiRoute: string; method: string }) => {
          const operationId = spec.paths[route.openApiRoute]?.[route.method.toLowerCase()]?.operationId as OperationId;
          return runner(operationId);
        },
      },
    }),
  );
  app.use(errorHandler(weir.log.logger));

  /** Runs one handler: preconditions, the handler, then headers and body. */
  function runner(operationId: OperationId, checkedAgainst: string | null = null): express.RequestHandler {
    const handler = handlers[operationId] as Handler<OperationId>;
    const route = byOperation.get(operationId)!;
    return async (req, res, next) => {
      try {
        const params = coerceParams(route, req.params as Record<string, string>);
        if (req.method !== 'GET' && hasWritePreconditions(req)) await checkPreconditions(req, route, params);
        const reply = await handler({ weir, user: res.locals.user, params, query: req.query, body: req.body } as never);
        const replied = reply as AnyReply;
        if (checkedAgainst && replied.body !== undefined) {
          const valid = schemaValidator(checkedAgainst);
          if (!valid(replied.body))
            throw new WeirError(
              500,
              `The response does not match the spec's ${checkedAgainst}: ${JSON.stringify(valid.errors)}`,
            );
        }
        send(req, res, reply as AnyReply, options.validateResponses);
      } catch (err) {
        next(err);
      }
    };
  }

  /** The write's target resource is the GET of the same path, or of its parent for actions. */
  async function checkPreconditions(req: ExpressRequest, route: Route, params: Record<string, unknown>): Promise<void> {
    let template = route.template;
    let target = route;
    while (!target.operations.get) {
      template = template.slice(0, template.lastIndexOf('/'));
      target = routes.find((r) => r.template === template)!;
      if (!target) return;
    }
    const reply = (await (handlers[target.operations.get as OperationId] as Handler<OperationId>)({
      weir,
      user: undefined as never,
      params,
      query: {},
      body: undefined,
    } as never)) as { body: unknown; lastModified?: Date };
    checkWritePreconditions(req, etagOf(reply.body), reply.lastModified);
  }

  return app;
}

/** The pages outside the spec, as metric labels (anything else is `unmatched`). */
function publicRoute(url: string): string | null {
  const path = url.split('?')[0]!;
  if (path === '/docs' || path.startsWith('/docs/')) return '/docs';
  return ['/', '/openapi.json', '/openapi.yaml', '/console'].includes(path) ? path : null;
}

/** Any operation's reply, as the sender sees it (each handler's own type is checked at its definition). */
type AnyReply = { status: number; body?: unknown } & ReplyOptions;

function send(req: ExpressRequest, res: Response, reply: AnyReply, validating: boolean): void {
  if (!('body' in reply)) {
    res.status(reply.status).end();
    return;
  }
  if (reply.contentType) {
    res.status(reply.status).type(reply.contentType).send(reply.body);
    return;
  }
  // 'close' comes after the last byte went to the socket (or the connection died): nothing reads the text after it.
  if (reply.release) res.once('close', reply.release);
  // Serialised once, and only when needed: the same text gives the ETag and, unprojected, the
  // response body; a handler that has its ETag cheaper (GET /sessions) may never build it.
  let text: string | Buffer | undefined;
  const textOf = () => (text ??= reply.text ?? JSON.stringify(reply.body));
  if (validating && reply.text !== undefined && String(textOf()) !== JSON.stringify(reply.body))
    throw new WeirError(500, `The handler's JSON text differs from its body's: ${String(textOf()).slice(0, 200)}`);
  const etag = reply.etag ?? etagOfText(textOf());
  res.setHeader('ETag', etag);
  if (reply.lastModified) res.setHeader('Last-Modified', reply.lastModified.toUTCString());
  if (reply.location) res.setHeader('Location', reply.location);
  if (req.method === 'GET' && notModified(req, etag, reply.lastModified)) {
    res.status(304).end();
    return;
  }
  const projection = res.locals.projection as Projection | undefined;
  if (!projection?.fields && !projection?.range) {
    if (!validating) {
      res.status(reply.status).type('application/json').send(textOf());
      return;
    }
  } else if (reply.select) {
    const selected = reply.select(projection);
    if (!validating) {
      res.status(reply.status).type('application/json').send(JSON.stringify(selected));
      return;
    }
    if (!isDeepStrictEqual(selected, project(reply.body, projection)))
      throw new WeirError(
        500,
        `The handler's projection differs from the generic one: ${JSON.stringify(selected).slice(0, 200)}`,
      );
    // The validator sees the full body; the client gets the handler's projection.
    res.locals.projected = selected;
  }
  res.status(reply.status).json(reply.body);
}

/** Path parameters arrive as strings; the spec says which are integers. */
function coerceParams(route: Route, raw: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) out[k] = route.integerParams.has(k) ? Number(v) : v;
  return out;
}
