import { z } from 'zod';

/**
 * What a caller may be, from the roles claim of its token (README: who may do what). An intake service submits
 * leads; agents work their office's leads; supervisors run their office; a SAC runs the offices under them; HQ HSTU
 * sees every office; auditors read the audit log; admins run the system; a partner (a referring organisation's
 * service or person) reads the status of its own referrals. None implies another.
 */
export const Role = z.enum(['intake', 'agent', 'supervisor', 'sac', 'hq', 'auditor', 'admin', 'partner']);
export type Role = z.infer<typeof Role>;

/** A verified caller: who (the token's subject, recorded as the actor), what roles, which offices. */
export const Caller = z.object({
  subject: z.string().min(1).max(200),
  /** `service` for a client-credentials token (no person behind it), `person` otherwise. */
  kind: z.enum(['person', 'service']),
  roles: z.array(Role),
  /** Office ids (e.g. HSI-NEWARK); HQ HSTU's reach does not depend on them. */
  offices: z.array(z.string().min(1).max(100)),
  /** The referring partner the caller speaks for (the partner claim), a partner directory id. */
  partner: z.string().min(1).max(100).optional(),
});
export type Caller = z.infer<typeof Caller>;
