/**
 * The one error type of Weir's core. HTTP maps it to a status and the
 * `{error, description, errors?}` body in one place (src/http/errors.ts);
 * the command API maps it to a failed status. Nothing else builds error bodies.
 */
export interface ErrorDetail {
  path: string;
  message: string;
}

const titles: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function statusTitle(status: number): string {
  return titles[status] ?? 'Error';
}

export class WeirError extends Error {
  readonly error: string;
  constructor(
    readonly status: number,
    readonly description: string,
    readonly errors?: ErrorDetail[],
  ) {
    super(description);
    this.error = statusTitle(status);
  }
}

export const badRequest = (description: string, errors?: ErrorDetail[]) => new WeirError(400, description, errors);
export const forbidden = (description: string) => new WeirError(403, description);
export const notFound = (description: string) => new WeirError(404, description);
export const conflict = (description: string) => new WeirError(409, description);
export const unprocessable = (description: string, errors?: ErrorDetail[]) => new WeirError(422, description, errors);
