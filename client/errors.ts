import type { CommandType } from '../schemas/commands';

/** The caller sent something malformed; `issues` say what and where. */
export class InvalidInputError extends Error {
  override readonly name = 'InvalidInputError';
  constructor(
    message: string,
    readonly issues: { path: string; message: string }[],
  ) {
    super(message);
  }
}

export class LeadNotFoundError extends Error {
  override readonly name: string = 'LeadNotFoundError';
  constructor(readonly leadId: string) {
    super(`no lead ${leadId}`);
  }
}

/**
 * A lead accepted but not readable yet: queued for Temporal, or started with its intake not yet recorded. Not found
 * for now (callers that treat it as LeadNotFoundError still do the right thing); ask again shortly.
 */
export class LeadPendingError extends LeadNotFoundError {
  override readonly name: string = 'LeadPendingError';
  readonly retryAfterSeconds = 1;
  constructor(leadId: string) {
    super(leadId);
    this.message = `lead ${leadId} is accepted but its intake is not recorded yet`;
  }
}

/** The lead's state does not allow the command, or the command broke one of its rules (`rules` says which). */
export class CommandRejectedError extends Error {
  override readonly name = 'CommandRejectedError';
  constructor(
    message: string,
    readonly status: string | null,
    readonly allowed: readonly CommandType[],
    /** The contact-safety rules a RequestInterview broke, each with what would satisfy it; empty otherwise. */
    readonly rules: readonly { rule: string; satisfiedBy: string }[] = [],
  ) {
    super(message);
  }
}

/**
 * Temporal or PostgreSQL cannot be reached, or refused before acting: nothing was done. (When a request was sent and
 * its answer lost, the LeadClient throws OutcomeUnknownError instead.)
 */
export class UnavailableError extends Error {
  override readonly name = 'UnavailableError';
}

/**
 * The request reached Temporal (the update or update-with-start was sent) but its answer did not come back in time:
 * the deadline passed or the connection broke. It may have been recorded, or may still be. Sending it again with the
 * same idempotency key (submissions) or `commandId` (commands) is safe: Temporal answers a known update id with that
 * update's result, so it is recorded once. `commandId` is set for commands, made up by the LeadClient if the caller
 * sent none: without it the caller could not retry safely. `leadId` names the lead it was for.
 */
export class OutcomeUnknownError extends Error {
  override readonly name = 'OutcomeUnknownError';
  /** Long enough for a restarted worker or dev server to take the task; short enough that a caller waits little. */
  readonly retryAfterSeconds = 5;
  constructor(
    readonly what: 'submission' | 'command',
    readonly leadId: string,
    /** Commands: the commandId to retry with. */
    readonly commandId: string | undefined,
    /** Submissions: whether a retry names the same lead (an Idempotency-Key or an external reference was given). */
    readonly keyed: boolean,
  ) {
    super(outcomeUnknownMessage(what, leadId, commandId, keyed));
  }
}

function outcomeUnknownMessage(what: string, leadId: string, commandId: string | undefined, keyed: boolean) {
  const sent = `the ${what} reached Temporal but its answer did not arrive in time; it may have been recorded`;
  if (what === 'command') {
    return `${sent}. Retrying with the same commandId (${commandId}) and data is safe: it is recorded once`;
  }
  return keyed
    ? `${sent} as lead ${leadId}. Retrying with the same Idempotency-Key and intake is safe: it is recorded once`
    : `${sent} as lead ${leadId}. It carried no Idempotency-Key or externalReference, so a retry would make a new ` +
        `lead: read lead ${leadId} first, and send an Idempotency-Key next time`;
}

/**
 * More submissions are in flight than this client admits: nothing was started. Retrying after
 * `retryAfterSeconds` is safe, and with the same idempotency key can never make a second lead.
 */
export class OverloadedError extends Error {
  override readonly name = 'OverloadedError';
  readonly retryAfterSeconds = 1;
  constructor(readonly limit: number) {
    super(`${limit} submissions are already being recorded; nothing was started, retry in a second`);
  }
}

/** The command id was already used on this lead for another command or other data: the command was not recorded. */
export class CommandIdConflictError extends Error {
  override readonly name = 'CommandIdConflictError';
  constructor(readonly leadId: string) {
    super('the commandId was already used on this lead for another command or other data');
  }
}

/** An idempotency key already names a lead whose intake differs from this one. */
export class IdempotencyConflictError extends Error {
  override readonly name = 'IdempotencyConflictError';
  constructor(readonly leadId: string) {
    super(`the idempotency key already names lead ${leadId}, submitted with a different intake`);
  }
}
