import { z } from 'zod';
import { storableString, text } from './text';
import { safetyAnswers } from './vocabulary';

/** Where a lead came from, as listed in the ICE TIPS memo. */
export const leadSources = [
  'state_local_le',
  'federal_agency',
  'dhs_tipline',
  'doj_tipline',
  'hhs_tipline',
  'ngo',
  'confidential_informant',
  'cooperating_defendant',
  'foreign_source',
  'public',
] as const;
export const LeadSource = z.enum(leadSources);
export type LeadSource = z.infer<typeof LeadSource>;

/** A partner's request to interview a potential victim, or information about identified potential victims. */
export const LeadKind = z.enum(['interview_request', 'victim_information']);
export type LeadKind = z.infer<typeof LeadKind>;

export const PotentialVictim = z.object({
  /** Name or alias as the partner gave it: personal data. */
  name: text(200).optional(),
  approximateAge: z.number().int().min(0).max(120).optional(),
  minor: z.boolean().default(false),
  languages: z.array(text(50)).max(10).default([]),
  needsInterpreter: z.boolean().default(false),
  safetyConcerns: z.array(text(500)).max(20).default([]),
  needs: z.array(z.enum(['medical', 'shelter', 'legal', 'counselling', 'immigration_relief', 'other'])).default([]),
});
export type PotentialVictim = z.infer<typeof PotentialVictim>;

/** ISO 3166-2 style jurisdiction code, e.g. `US-NJ`. */
export const JurisdictionCode = storableString().regex(
  /^[A-Z]{2}(-[A-Z0-9]{1,3})?$/,
  'jurisdiction must look like US-NJ (ISO 3166-2)',
);

export const LeadLocation = z.object({
  jurisdiction: JurisdictionCode,
  city: text(100).optional(),
  /** Street-level detail: personal data. */
  address: text(300).optional(),
});

/** A referring partner's id in the partner directory (config/partners.json), e.g. `NGO-SAFE-HARBOR`. */
export const PartnerId = storableString().regex(
  /^[A-Z0-9][A-Z0-9-]{1,39}$/,
  'partner id must be an upper-case partner id such as NGO-SAFE-HARBOR',
);

export const PartnerContact = z.object({
  /**
   * The partner's id in the partner directory, when it has one: its channel preferences (webhook, email, whether it
   * wants milestone notices) come from there, and a partner token with this id reads the lead's status. Without it
   * (or with an id the directory lacks) the partner is told at `email`, if any.
   */
  id: PartnerId.optional(),
  organisation: text(200),
  name: text(200),
  email: z.email().optional(),
  phone: text(40).optional(),
});

export const SafetyAnswer = z.enum(safetyAnswers);

/**
 * What is known of the victim's safety and consent to contact, as the partner gave it or an agent learned it later
 * (RecordSafety). Personal data: it lives where the intake does, sealed at rest, and only the gate's conclusions reach
 * the lead's state. Every field is optional, so intakes and recorded histories from before it stay valid.
 */
export const contactSafetyFields = {
  safeToContact: SafetyAnswer.optional(),
  consentToContact: SafetyAnswer.optional(),
  /** Through whom the victim must be approached (e.g. "NGO caseworker"): personal data. */
  contactThrough: text(200).optional(),
  preferredLanguage: text(50).optional(),
  needsInterpreter: z.boolean().optional(),
  minor: z.boolean().optional(),
  immediateDanger: z.boolean().optional(),
};
export const ContactSafety = z.object(contactSafetyFields).strict();
export type ContactSafety = z.infer<typeof ContactSafety>;

export const LeadIntake = z
  .object({
    source: LeadSource,
    kind: LeadKind,
    /** The partner's own reference; with the source it identifies a submission for idempotency. */
    externalReference: text(100).optional(),
    summary: text(5000),
    flags: z
      .object({
        imminentDanger: z.boolean().default(false),
        minorInvolved: z.boolean().default(false),
      })
      .default({ imminentDanger: false, minorInvolved: false }),
    potentialVictims: z.array(PotentialVictim).min(1).max(50),
    location: LeadLocation,
    partner: PartnerContact,
    requestedInterview: z
      .object({
        preferredTime: z.iso.datetime({ offset: true }).optional(),
        place: text(300).optional(),
      })
      .optional(),
    safety: ContactSafety.optional(),
  })
  .strict();
export type LeadIntake = z.infer<typeof LeadIntake>;
export type LeadIntakeInput = z.input<typeof LeadIntake>;

/**
 * A lead accepted before its workflow exists (POST /leads with `Prefer: respond-async`): what the intake queue keeps
 * until the workflow is started with it.
 */
export const QueuedLead = z.object({
  leadId: z.uuid(),
  /** Tells the same submission sent again from another intake under the same key. */
  intakeDigest: storableString().min(1),
  intake: LeadIntake,
  submittedBy: z.object({ actor: storableString(), commandId: storableString() }),
});
export type QueuedLead = z.infer<typeof QueuedLead>;
