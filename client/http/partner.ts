/**
 * `GET /partner/leads/{reference}`: a referring partner reads the status of its own lead by its own reference
 * (client/guarded-partner-leads.ts). Status-level facts and times only; another partner's lead and an unknown
 * reference answer the same 404.
 */
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import type { Caller } from '../../schemas/caller';
import { PartnerLeadParams, PartnerLeadView } from '../../schemas/partner';
import type { GuardedPartnerLeads } from '../guarded-partner-leads';
import { problemResponse } from './responses';

export interface PartnerRoutesOptions {
  partnerLeads: GuardedPartnerLeads;
  callerOf(request: FastifyRequest): Caller;
}

export function partnerRoutes(options: PartnerRoutesOptions): FastifyPluginCallbackZod {
  return (app, _options, done) => {
    app.get(
      '/partner/leads/:reference',
      {
        schema: {
          tags: ['partner'],
          operationId: 'partnerLead',
          summary: "A referring partner's lead, by the partner's own reference: its status and when each step came",
          description:
            'For partner tokens (role `partner`, the partner id in the partner claim). Received, acknowledged, interview ' +
            'scheduled and held, case opened, or closed with its category, and their times: never the office, agents, ' +
            'notes, places or anything of the intake. A lead is found once validated, a moment after intake. Audited.',
          params: PartnerLeadParams,
          response: {
            200: {
              description: 'The lead’s status facts',
              content: { 'application/json': { schema: PartnerLeadView } },
            },
            400: problemResponse('The reference is malformed'),
            401: problemResponse('No valid bearer token; `WWW-Authenticate` says why'),
            403: problemResponse('The caller is not a referring partner'),
            404: problemResponse('No lead of this partner has this reference'),
            503: problemResponse('PostgreSQL cannot be reached'),
          },
        },
      },
      (request) => options.partnerLeads.read(options.callerOf(request), request.params.reference),
    );
    done();
  };
}
