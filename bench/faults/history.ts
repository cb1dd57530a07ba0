/*
 * The client's record of a run, as Jepsen keeps one: every operation sent, and its answer or none. The load and the
 * poison sender write it; the checker reads it and nothing else of theirs. It holds keys, ids and statuses only:
 * never an intake or a note (they are invented, but the suite treats them as the real thing would be treated).
 */

export interface Operation {
  id: number;
  kind: 'submit' | 'command';
  /** `async`: `Prefer: respond-async` (202 once queued); `sync`: 201/200 once recorded. */
  mode: 'sync' | 'async';
  /** The nemesis phase in force when it was sent. */
  phase: string;
  /** Submissions: the Idempotency-Key. */
  key?: string;
  /** Commands: the lead, the command's type and its commandId. */
  leadId?: string;
  commandType?: string;
  commandId?: string;
  /** The same key or commandId sent again, as a client retries. */
  retry: boolean;
  sentAt: number;
  /** Unset: no answer yet (or ever: the run ended first). */
  doneAt?: number;
  /** HTTP status, or null when none came (timeout, connection refused or reset). */
  status?: number | null;
  /** Why there was no answer: `timeout` or the socket error's code. */
  error?: string;
  /** The lead the answer names (submissions). */
  answerLeadId?: string;
}

/** A request carrying a poison byte (NUL or a lone surrogate) in one text field. */
export interface PoisonOperation {
  id: number;
  /** Where the byte was: `intake.summary`, `AddNote.text`, `header.x-actor`, `query.office`... */
  field: string;
  byte: 'NUL' | 'lone surrogate';
  /** A clean command sent after the poison to the same lead: it must still be answered 200 (not frozen). */
  clean?: boolean;
  mode: 'sync' | 'async';
  /** The lead it would create (submissions: from its key) or touch (commands). */
  leadId?: string;
  /** A submission's Idempotency-Key, a command's commandId. */
  key?: string;
  commandId?: string;
  /** Planted before the byte: found in a log, it proves the request's text was logged. */
  marker: string;
  sentAt: number;
  doneAt?: number;
  status?: number | null;
  error?: string;
}

/** One injected fault, with the instants the checker measures from. */
export interface FaultWindow {
  name: string;
  startedAt: number;
  /** The piece it took down came back (its process said it was ready) or the fault ended. */
  recoveredAt: number;
  /** The worker was down in [workerDownAt, workerBackAt]: rungs due then are measured from its return. */
  workerDownAt?: number;
  workerBackAt?: number;
  /** One worker of several was down in [takeoverDownAt, takeoverBackAt]: the others had to fire its rungs on time. */
  takeoverDownAt?: number;
  takeoverBackAt?: number;
  /** Leads the nemesis cancelled or terminated through Temporal. */
  targets?: string[];
}

export interface History {
  operations: Operation[];
  poison: PoisonOperation[];
  faults: FaultWindow[];
}
