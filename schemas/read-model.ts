import { z } from 'zod';
import type { LeadStatus, Priority, SlaClock } from './lead';
import { storableString } from './text';

/** `true`/`false` as query strings carry them; `z.coerce.boolean` would read 'false' as true. */
const booleanParam = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]);

/** A lead as supervisors see it in a list: the read model's row, no personal data. */
export interface LeadSummary {
  leadId: string;
  status: LeadStatus;
  priority: Priority;
  source: string;
  kind: string;
  office: string | null;
  agent: string | null;
  stage: string | null;
  stageDeadline: string | null;
  escalationLevel: number;
  slaPaused: boolean;
  caseNumber: string | null;
  closedReason: string | null;
  receivedAt: string;
  updatedAt: string;
  version: number;
  overdue: boolean;
}

/** The next rung of the current stage's ladder and when it is due (domain/sla.ts `nextRung`). */
export interface NextRung {
  rung: 'warning' | 'level1' | 'level2' | 'level3';
  at: string;
}

/** A lead in a list: its row, and where its SLA ladder goes next, computed from the row. */
export interface LeadListItem extends LeadSummary {
  nextRung: NextRung | null;
  /** The current stage's budget (scaled as the policy says); null once finished. */
  stageBudgetMs: number | null;
}

/** A row as the read model gives it to the LeadClient: the summary and the stage's clock (no personal data). */
export interface StoredLeadSummary extends LeadSummary {
  sla: SlaClock;
}

const statusNames = [
  'received',
  'validated',
  'assigned',
  'interview_requested',
  'interview_completed',
  'case_opened',
  'closed',
] as const satisfies readonly LeadStatus[];

/**
 * Several statuses, comma-separated (`assigned,validated`), repeated (`status=assigned&status=validated`), or both.
 * An unknown status is refused with the parameter named, not read as "no such lead".
 */
export const StatusListParam = z.union([z.string(), z.array(z.string())]).transform((value, context) => {
  const names = [value]
    .flat()
    .flatMap((part) => part.split(','))
    .map((name) => name.trim())
    .filter((name) => name !== '');
  const unknown = names.flatMap((name, index) => ((statusNames as readonly string[]).includes(name) ? [] : [index]));
  if (unknown.length > 0 || names.length === 0) {
    // Said by position, never quoted: the wrong value is the caller's text, and could be anything.
    const which = unknown
      .slice(0, 5)
      .map((index) => `#${index + 1}`)
      .join(', ');
    context.addIssue({
      code: 'custom',
      message:
        names.length === 0
          ? `name at least one status: ${statusNames.join(', ')}`
          : `status ${which} of ${names.length} is not a status; one or more of ${statusNames.join(', ')}, ` +
            'comma-separated',
    });
    return z.NEVER;
  }
  return [...new Set(names)] as LeadStatus[];
});

/**
 * The start of a lead id, as a person reads it off a screen or a notice: 4 to 32 hex digits, hyphens where a uuid
 * has them or not at all. Anything shorter would match too many leads to be a search.
 */
export const LeadIdPrefixParam = storableString()
  .max(36)
  .transform((value, context) => {
    const hex = value.trim().toLowerCase().replace(/-/g, '');
    if (!/^[0-9a-f]{4,32}$/.test(hex)) {
      context.addIssue({
        code: 'custom',
        message: 'must be the start of a lead id: at least 4 hex digits (0-9, a-f), hyphens allowed',
      });
      return z.NEVER;
    }
    return hex;
  });

/** The query of GET /leads. Strict: a parameter it does not know is refused by name, never silently ignored. */
export const LeadListFilter = z.strictObject({
  status: StatusListParam.optional(),
  office: storableString().optional(),
  priority: z.enum(['standard', 'urgent']).optional(),
  /** Leads assigned to this agent (a token subject, as `agent` shows it). */
  agent: storableString().max(100).optional(),
  /** `true`: leads no agent holds; `false`: leads an agent holds. */
  unassigned: booleanParam.optional(),
  /** `true`: leads assigned to the caller (its token's subject). */
  mine: booleanParam.optional(),
  /** Leads whose id starts with this. */
  leadId: LeadIdPrefixParam.optional(),
  escalated: booleanParam.optional(),
  overdue: booleanParam.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  /** Opaque cursor from the previous page. */
  cursor: storableString().optional(),
});
export type LeadListFilter = z.input<typeof LeadListFilter>;
export type LeadListQuery = z.output<typeof LeadListFilter>;
