import type { CommandType } from '../schemas/commands';
import type { LeadStatus } from '../schemas/lead';
import type { ContactSafetyRule } from '../schemas/vocabulary';

/** A contact-safety rule a command broke, and what would satisfy it. Names no victim's data, only the rule. */
export interface SafetyRuleBreach {
  rule: ContactSafetyRule;
  satisfiedBy: string;
}

/** A command broke a rule of the lifecycle: retrying it cannot help. */
export class LeadRuleViolation extends Error {
  override readonly name = 'LeadRuleViolation';
  constructor(
    readonly code:
      'command_not_allowed' | 'lead_exists' | 'lead_missing' | 'invalid_command' | 'command_id_reused' | 'safety_rule',
    message: string,
    readonly status: LeadStatus | null,
    readonly allowed: readonly CommandType[],
    /** For `safety_rule`: every contact-safety rule the command broke. */
    readonly rules: readonly SafetyRuleBreach[] = [],
  ) {
    super(message);
  }
}
