/**
 * RFC 9457 problem documents: the only shape an error leaves a Tradecore HTTP service in.
 * One error handler maps typed errors to problems; nothing internal (stack, SQL, class names) leaks.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { ZodError } from 'zod';
import { DecimalValidationError } from '@tradecore/core-domain';
import { IdempotencyConflictError, WrongExpectedRevisionError } from '@tradecore/event-store';

export interface ProblemFieldError {
  path: string;
  message: string;
}

export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  errors?: ProblemFieldError[];
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** A business or protocol error that should reach the client as a problem document. */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly problemType: string,
    detail: string,
    readonly errors?: ProblemFieldError[],
    readonly headers?: Record<string, string>,
  ) {
    super(detail);
    this.name = 'HttpProblem';
  }
}

export const problems = {
  validation: (detail: string, errors?: ProblemFieldError[]) => new HttpProblem(400, 'validation', detail, errors),
  unauthorized: (detail = 'a valid bearer token is required') =>
    new HttpProblem(401, 'unauthorized', detail, undefined, { 'www-authenticate': 'Bearer' }),
  forbidden: (detail = 'this action needs another role') => new HttpProblem(403, 'forbidden', detail),
  notFound: (detail = 'not found') => new HttpProblem(404, 'not-found', detail),
  conflict: (detail: string) => new HttpProblem(409, 'conflict', detail),
  unavailable: (detail = 'a dependency is unavailable; retry later') => new HttpProblem(503, 'unavailable', detail),
};

export function problemDocument(status: number, type: string, detail: string, instance?: string, errors?: ProblemFieldError[]): ProblemDocument {
  return {
    type: `https://tradecore.dev/problems/${type}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    ...(instance ? { instance } : {}),
    ...(errors && errors.length > 0 ? { errors } : {}),
  };
}

export function sendProblem(reply: FastifyReply, doc: ProblemDocument, headers?: Record<string, string>): FastifyReply {
  if (headers) void reply.headers(headers);
  return reply.code(doc.status).type('application/problem+json').send(doc);
}

function zodErrors(error: ZodError, prefix = ''): ProblemFieldError[] {
  return error.issues.map((i) => ({
    path: [prefix, ...i.path.map(String)].filter(Boolean).join('.') || '(root)',
    message: i.code === 'unrecognized_keys' ? `unknown field(s): ${i.keys.join(', ')}` : i.message,
  }));
}

/** Maps every error to a problem document; unknown errors become an opaque 500 (logged, not leaked). */
export function problemErrorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const instance = request.url.split('?')[0];
  if (error instanceof HttpProblem) {
    return sendProblem(reply, problemDocument(error.status, error.problemType, error.message, instance, error.errors), error.headers);
  }
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where = (error as FastifyError).validationContext ?? 'body';
    const errors = error.validation.map((v) => {
      const issue = v.params.issue as { code?: string; keys?: string[] } | undefined;
      return {
        path: [where, ...(v.instancePath ? v.instancePath.split('/').filter(Boolean) : [])].join('.'),
        message: issue?.code === 'unrecognized_keys' ? `unknown field(s): ${(issue.keys ?? []).join(', ')}` : (v.message ?? 'invalid'),
      };
    });
    return sendProblem(reply, problemDocument(400, 'validation', `the request ${where} is invalid`, instance, errors));
  }
  if (error instanceof ZodError) {
    return sendProblem(reply, problemDocument(400, 'validation', 'the request is invalid', instance, zodErrors(error)));
  }
  if (error instanceof DecimalValidationError) {
    return sendProblem(reply, problemDocument(400, 'validation', error.message, instance, [{ path: error.field, message: error.message }]));
  }
  if (error instanceof WrongExpectedRevisionError || error instanceof IdempotencyConflictError) {
    return sendProblem(reply, problemDocument(409, 'conflict', 'the resource changed concurrently; retry', instance));
  }
  const fe = error as FastifyError;
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  if (status === 429) {
    return sendProblem(reply, problemDocument(429, 'rate-limited', 'too many requests; retry later', instance));
  }
  if (status === 413) return sendProblem(reply, problemDocument(413, 'body-too-large', 'the request body is too large', instance));
  if (status === 415) return sendProblem(reply, problemDocument(415, 'unsupported-media-type', 'send application/json', instance));
  if (status >= 400 && status < 500) {
    // Fastify's own client errors (malformed JSON, empty body with JSON content type, ...).
    const detail = fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError ? 'the body is not valid JSON' : 'the request is invalid';
    return sendProblem(reply, problemDocument(status, status === 404 ? 'not-found' : 'bad-request', detail, instance));
  }
  request.log.error({ err: error }, 'unhandled error');
  return sendProblem(reply, problemDocument(500, 'internal', 'an internal error occurred; it has been logged', instance));
}

export type NotFoundFallback = (request: FastifyRequest, reply: FastifyReply) => FastifyReply | undefined;

/**
 * Installs the error handler and a problem-document 404 for unknown routes. A `fallback` may answer
 * first (single-node mode serves the web UI's shell for client-side routes).
 */
export function installProblemHandling(app: FastifyInstance, fallback?: NotFoundFallback): void {
  app.setErrorHandler(problemErrorHandler);
  app.setNotFoundHandler((request, reply) => {
    const answered = fallback?.(request, reply);
    if (answered) return answered;
    const path = request.url.split('?')[0];
    return sendProblem(reply, problemDocument(404, 'not-found', `no route ${request.method} ${path}`, path));
  });
}
