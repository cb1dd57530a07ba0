import { z } from 'zod';
import type { LeadStatus, Priority } from './lead';
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

export const LeadListFilter = z.object({
  status: z
    .enum(['received', 'validated', 'assigned', 'interview_requested', 'interview_completed', 'case_opened', 'closed'])
    .optional(),
  office: storableString().optional(),
  priority: z.enum(['standard', 'urgent']).optional(),
  escalated: booleanParam.optional(),
  overdue: booleanParam.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  /** Opaque cursor from the previous page. */
  cursor: storableString().optional(),
});
export type LeadListFilter = z.input<typeof LeadListFilter>;
export type LeadListQuery = z.output<typeof LeadListFilter>;
