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

/** The lead's state does not allow the command. */
export class CommandRejectedError extends Error {
  override readonly name = 'CommandRejectedError';
  constructor(
    message: string,
    readonly status: string | null,
    readonly allowed: readonly CommandType[],
  ) {
    super(message);
  }
}

/** Temporal or PostgreSQL cannot be reached; nothing was accepted. */
export class UnavailableError extends Error {
  override readonly name = 'UnavailableError';
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
