/**
 * Limits on a parsed JSON body that the size limit does not give: a megabyte of `[` is a
 * value nested half a million deep, which recursive code further on (the validator,
 * JSON Patch, structuredClone) would overflow the stack on. Bodies deeper than
 * MAX_DEPTH, or with a `__proto__` key (which plain assignment would turn into a prototype
 * change), are a 400 before anything looks at them.
 */
import type { RequestHandler } from 'express';
import { badRequest } from '../core/errors.ts';

export const MAX_DEPTH = 64;

export const checkBodyShape: RequestHandler = (req, _res, next) => {
  const problem = shapeProblem(req.body);
  next(problem ? badRequest(`The request body ${problem}.`) : undefined);
};

/** Walks the value without recursion; returns what is wrong, or null. */
export function shapeProblem(body: unknown): string | null {
  if (typeof body !== 'object' || body === null) return null;
  const stack: Array<{ value: object; depth: number }> = [{ value: body, depth: 1 }];
  while (stack.length) {
    const { value, depth } = stack.pop()!;
    if (depth > MAX_DEPTH) return `is nested more than ${MAX_DEPTH} levels deep`;
    for (const key of Object.keys(value)) {
      if (key === '__proto__') return `has a property named '__proto__', which no operation accepts`;
      const child = (value as Record<string, unknown>)[key];
      if (typeof child === 'object' && child !== null) stack.push({ value: child, depth: depth + 1 });
    }
  }
  return null;
}
