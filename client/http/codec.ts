/**
 * Temporal's remote codec protocol (`POST /codec/encode`, `POST /codec/decode`, JSON payloads with base64 fields),
 * so an authorised operator can read what Leadline encrypts in Temporal: the CLI with `--codec-endpoint` and
 * `--codec-auth "Bearer <token>"`, or the Temporal UI signed in to the same provider. Behind the API's
 * authentication like every route; HQ HSTU and admins only; every decode is audited.
 */
import type { Payload, PayloadCodec } from '@temporalio/common';
import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Caller } from '../../schemas/caller';

/** What the codec routes need from the access guard: the policy's answer, and an audit row for each call. */
export interface CodecGuard {
  codec(caller: Caller, operation: 'encode' | 'decode', payloads: number, namespace: string): Promise<void>;
}

const Base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64');
const JsonPayload = z.object({
  metadata: z.record(z.string(), Base64).optional(),
  data: Base64.optional(),
});
// Go's protojson leaves an empty list out: `{}` is a request for no payloads.
const CodecBody = z.object({ payloads: z.array(JsonPayload).max(1000).default([]) });

function fromJson(payload: z.infer<typeof JsonPayload>): Payload {
  return {
    metadata: Object.fromEntries(
      Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64')]),
    ),
    data: Buffer.from(payload.data ?? '', 'base64'),
  };
}

function toJson(payload: Payload): { metadata: Record<string, string>; data: string } {
  return {
    metadata: Object.fromEntries(
      Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value ?? []).toString('base64')]),
    ),
    data: Buffer.from(payload.data ?? []).toString('base64'),
  };
}

export interface CodecRoutesOptions {
  codec: PayloadCodec;
  guard: CodecGuard;
  /** The Temporal UI's origin, allowed to call from the browser (CORS); none: no browser may. */
  uiOrigin?: string;
  callerOf(request: FastifyRequest): Caller;
}

/** Paths the codec answers, for the API's list of routes a browser's CORS preflight may reach unauthenticated. */
export const CODEC_PREFLIGHT = /^\/codec\/(encode|decode)$/;

export function codecRoutes(options: CodecRoutesOptions): FastifyPluginCallback {
  return (app, _options, done) => {
    registerOn(app, options);
    done();
  };
}

function registerOn(app: FastifyInstance, options: CodecRoutesOptions): void {
  const allowOrigin = (request: FastifyRequest, reply: FastifyReply) => {
    if (options.uiOrigin !== undefined && request.headers.origin === options.uiOrigin) {
      void reply
        .header('access-control-allow-origin', options.uiOrigin)
        .header('access-control-allow-credentials', 'true')
        .header('vary', 'origin');
    }
  };
  for (const operation of ['encode', 'decode'] as const) {
    // The preflight carries no credentials by design; it learns only which headers the real request may send. The
    // Temporal UI sends the signed-in user's ID token too (Authorization-Extras), which the codec does not read.
    app.options(`/codec/${operation}`, { schema: { hide: true } }, (request, reply) => {
      allowOrigin(request, reply);
      return reply
        .header('access-control-allow-methods', 'POST')
        .header('access-control-allow-headers', 'authorization, authorization-extras, content-type, x-namespace')
        .header('access-control-max-age', '600')
        .code(204)
        .send();
    });
    app.post(`/codec/${operation}`, { schema: { hide: true } }, async (request, reply) => {
      allowOrigin(request, reply);
      const parsed = CodecBody.safeParse(request.body);
      if (!parsed.success) {
        return reply
          .code(400)
          .send({ error: 'the body must be { payloads: [{ metadata, data }] } with base64 fields' });
      }
      const namespace = String(request.headers['x-namespace'] ?? 'default').slice(0, 200);
      await options.guard.codec(options.callerOf(request), operation, parsed.data.payloads.length, namespace);
      const payloads = parsed.data.payloads.map(fromJson);
      const result =
        operation === 'decode' ? await options.codec.decode(payloads) : await options.codec.encode(payloads);
      return { payloads: result.map(toJson) };
    });
  }
}
