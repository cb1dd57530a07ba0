import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import { loggableError, pathOf } from './problems';

/**
 * Fastify's own request lines log the full URL and whole error objects; a body parser's error quotes the body it
 * failed on, and a query string can carry a name. Every line here names the method, the path, the status and
 * the time, and an error's class, code and a message that cannot quote the request.
 */
export class LeadlineLogController extends LogController {
  override incomingRequest(): void {
    // One line per request, at completion, is enough.
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const line = {
      method: request.method,
      path: pathOf(request),
      route: request.routeOptions.url,
      statusCode: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime),
    };
    if (error) reply.log.error({ ...line, error: loggableError(error) }, 'request errored');
    else reply.log.info(line, 'request completed');
  }

  override defaultErrorLog(error: Error, request: FastifyRequest, reply: FastifyReply): void {
    reply.log[reply.statusCode >= 500 ? 'error' : 'info'](
      { path: pathOf(request), error: loggableError(error) },
      'request failed',
    );
  }

  override streamError(error: Error, request: FastifyRequest, reply: FastifyReply): void {
    reply.log.warn(
      { path: pathOf(request), error: loggableError(error) },
      'response stream failed after headers were sent',
    );
  }

  override routeNotFound(): void {
    // The not-found handler answers with a problem; the completion line records the 404.
  }

  override writeHeadError(error: Error, request: FastifyRequest, reply: FastifyReply): void {
    reply.log.warn({ path: pathOf(request), error: loggableError(error) }, 'writing the response head failed');
  }

  override serializerError(
    error: Error,
    request: FastifyRequest,
    reply: FastifyReply,
    metadata: { statusCode: number },
  ): void {
    reply.log.error(
      { path: pathOf(request), statusCode: metadata.statusCode, error: loggableError(error) },
      'the response did not match its schema',
    );
  }
}
