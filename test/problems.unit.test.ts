import type { FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { CommandRejectedError } from '../client/errors';
import { problemFor } from '../client/http/problems';
import { contactSafetyBreaches } from '../domain';

const request = { url: '/leads/6f1c2a52-2b0e-4d1e-9a51-6c1f3c1d2e01/commands/RequestInterview', id: 'req-1' };

describe('a refused command as a problem', () => {
  it("a safety rule's refusal is today's 409 command-rejected, with each broken rule and what would satisfy it", () => {
    const rules = contactSafetyBreaches(
      {
        safeToContact: 'no',
        consentToContact: 'unknown',
        minor: true,
        needsInterpreter: false,
        immediateDanger: false,
      },
      { victimSpecialist: false },
    );
    const body = problemFor(
      new CommandRejectedError(
        'RequestInterview is refused by the contact-safety rules: …',
        'assigned',
        ['RequestInterview'],
        rules,
      ),
      request as FastifyRequest,
    );
    expect(body).toMatchObject({
      type: 'urn:leadline:problem:command-rejected',
      status: 409,
      leadStatus: 'assigned',
      allowed: ['RequestInterview'],
      rules: [
        { rule: 'contact_unsafe', satisfiedBy: expect.stringContaining('safeToContact: "yes"') as string },
        {
          rule: 'minor_needs_victim_specialist',
          satisfiedBy: expect.stringContaining('victimSpecialist: true') as string,
        },
      ],
    });
  });
  it('a refusal by status carries no rules member, as before', () => {
    const body = problemFor(
      new CommandRejectedError('OpenCase is not allowed while the lead is assigned', 'assigned', ['CloseLead']),
      request as FastifyRequest,
    );
    expect(body).not.toHaveProperty('rules');
    expect(body).toMatchObject({ status: 409, leadStatus: 'assigned', allowed: ['CloseLead'] });
  });
});
