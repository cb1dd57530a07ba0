import type { CommandType } from '../schemas/commands';
import type { LeadStatus } from '../schemas/lead';

/** A command broke a rule of the lead's lifecycle: retrying it cannot help. */
export class LeadRuleViolation extends Error {
  override readonly name = 'LeadRuleViolation';
  constructor(
    readonly code: 'command_not_allowed' | 'lead_exists' | 'lead_missing' | 'invalid_command' | 'command_id_reused',
    message: string,
    readonly status: LeadStatus | null,
    readonly allowed: readonly CommandType[],
  ) {
    super(message);
  }
}
