import { createHmac, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { ApplicationFailure, log, metricMeter } from '@temporalio/activity';
import { evolve, stageDeadline } from '../domain';
import type { z } from 'zod';
import { commandData, type CommandType } from '../schemas/commands';
import type { LeadEvent, RecordedEvent } from '../schemas/events';
import { leadSources, type LeadIntake } from '../schemas/intake';
import { LeadState } from '../schemas/lead';
import type {
  AssignmentNotice,
  EscalationNotice,
  LeadActivities,
  PartnerNotice,
  RecordEventsInput,
  StabilisationNotice,
} from './contract';
import { formatDatabaseError, isDataError } from './database-errors';
import {
  ConcurrencyError,
  DuplicateEventIdError,
  recordAudit,
  type EventEnvelope,
  type EventStore,
  type ReadModelRow,
} from './event-store';
import { composeNotifications } from './notifications/compose';
import { deliverEach, type NotificationDelivery } from './notifications/deliver';
import type { NotificationChannel, NotificationRecipient } from './notifications/types';
import { findOffice, officeForJurisdiction, recipientsFor, type ContactRole, type Directory } from './directory';
import { composePartnerNotifications } from './notifications/partner';
import { emptyPartnerDirectory, findPartner, partnerRecipient, type PartnerDirectory } from './partners';

/** The `leads` row for a lead's state: the same fold serves the live append and the rebuild. */
export function projectLead(previousState: unknown, events: EventEnvelope[]): Omit<ReadModelRow, 'version'> {
  const previous = previousState === undefined || previousState === null ? undefined : LeadState.parse(previousState);
  // Rows come from our own writer, so the envelope is the event with its id beside it.
  const state = events.reduce<LeadState | undefined>((s, e) => evolve(s, e as unknown as LeadEvent), previous);
  if (state === undefined) throw new Error('a lead row needs at least its LeadReceived event');
  return {
    status: state.status,
    priority: state.priority,
    source: state.source,
    kind: state.kind,
    office: state.office,
    agent: state.agent,
    stage: state.sla.stage,
    stageDeadline: stageDeadline(state.sla),
    escalationLevel: state.sla.level,
    slaPaused: state.sla.paused,
    caseNumber: state.caseNumber,
    closedReason: state.closedReason,
    fingerprint: state.fingerprint ?? '',
    receivedAt: state.receivedAt,
    state,
  };
}

/**
 * A PII-free fingerprint for duplicate detection: a keyed hash of what identifies a submission, so the
 * stored value cannot be reversed into the intake.
 */
export function leadFingerprint(intake: LeadIntake, key: string): string {
  const basis = intake.externalReference
    ? ['ref', intake.source, intake.externalReference.toLowerCase()]
    : ['text', intake.source, intake.location.jurisdiction, intake.summary.toLowerCase().replace(/\s+/g, ' ').trim()];
  return createHmac('sha256', key).update(JSON.stringify(basis)).digest('hex');
}

/**
 * The fingerprints a partner's own reference would have under each source: the read model finds a lead by its
 * reference through them (`leads.fingerprint`, keyed, indexed) without opening any intake.
 */
export function referenceFingerprints(reference: string, key: string): string[] {
  return leadSources.map((source) =>
    createHmac('sha256', key)
      .update(JSON.stringify(['ref', source, reference.toLowerCase()]))
      .digest('hex'),
  );
}

/** Refuses, for good, a command whose data its schema does not accept; the message names each field. */
function refuseMalformed(command: { type: CommandType; data: unknown }) {
  // The type is the workflow's own (the update's name), so it always has a schema; the data is the caller's.
  const parsed = (commandData[command.type] as z.ZodType).safeParse(command.data);
  if (parsed.success) return;
  const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(data)'}: ${i.message}`);
  throw ApplicationFailure.create({
    type: 'InvalidCommand',
    message: `${command.type} is malformed: ${issues.join('; ')}`,
    nonRetryable: true,
    details: [{ issues }],
  });
}

/** The log's events after `version`, as the workflow folds them, and whether another workflow run wrote any. */
async function adoptFrom(store: EventStore, leadId: string, version: number, writer: string | undefined) {
  const logged = await store.readEventsAfter(leadId, version);
  const foreignWriter = logged.some((event) => event.writtenBy !== null && event.writtenBy !== writer);
  const events = logged.map(
    ({ eventId, type, data, metadata }) => ({ eventId, type, data, metadata }) as unknown as RecordedEvent,
  );
  // Healing always raises an alarm: a counter on the worker's /metrics and a log line, with ids and counts only
  // (the events themselves carry victims' data).
  metricMeter
    .createCounter('leadline_log_adoptions', 'events', 'Appends that found the log ahead and adopted its events')
    .add(events.length, { foreign_writer: String(foreignWriter) });
  const fields = { leadId, fromVersion: version, events: events.length };
  if (foreignWriter) log.error('lead log written by another workflow run: the workflow adopts it', fields);
  else log.warn('the workflow adopts events an earlier attempt of its task recorded', fields);
  return { events, foreignWriter };
}

export interface LeadActivityDeps {
  pool: pg.Pool;
  store: EventStore;
  directory: Directory;
  delivery: NotificationDelivery;
  /** Channels that really send; a contact reachable only on others is logged instead. */
  channels: readonly NotificationChannel[];
  fingerprintKey: string;
  linkBase?: string;
  /** The partner directory (config/partners.json); none: every partner is told at its intake's email. */
  partners?: PartnerDirectory;
}

/** Which directory roles hear of each rung of the ladder (DESIGN.md, SLA policy). */
const rolesForRung: Record<EscalationNotice['level'], ContactRole[]> = {
  0: ['assignee'],
  1: ['assignee', 'supervisor'],
  2: ['sac'],
  3: ['hq'],
};

export function createActivities(deps: LeadActivityDeps): LeadActivities {
  const adopt = (leadId: string, version: number, writer: string | undefined) =>
    adoptFrom(deps.store, leadId, version, writer);
  return {
    async recordEvents({ leadId, expectedVersion, events, command, writer }: RecordEventsInput) {
      if (command !== undefined) refuseMalformed(command);
      try {
        let proposed = events;
        for (let attempt = 1; ; attempt++) {
          try {
            const appended = await deps.store.append(leadId, expectedVersion, proposed, writer);
            // A retry of an append that committed: the log's copy may differ from this proposal (a re-run task has
            // a new clock), and it is the log's copy that stands.
            if (appended.duplicate) return { ...appended, adopted: await adopt(leadId, expectedVersion, writer) };
            return { ...appended, events: proposed, committedAt: Date.now() };
          } catch (error) {
            // The workflow draws event ids from its run's seeded generator: a task re-run after a crash draws them
            // again, in another order if its jobs came in another order, so an id may name an event an earlier
            // attempt recorded elsewhere. Retried as it was, the append would fail for ever and freeze the lead;
            // fresh ids are safe because the workflow folds the events this returns.
            if (!(error instanceof DuplicateEventIdError) || attempt >= 3) throw error;
            log.warn('event ids already in the lead log; appended under fresh ids', { leadId, expectedVersion });
            proposed = proposed.map((event) => ({ ...event, eventId: randomUUID() }));
          }
        }
      } catch (error) {
        if (error instanceof ConcurrencyError && error.actualVersion > error.expectedVersion) {
          // The log is ahead of the workflow: an earlier attempt of this workflow task committed before it was
          // lost (a worker killed between the commit and the task's completion). The workflow adopts the log.
          const adopted = await adopt(leadId, expectedVersion, writer);
          return { version: error.actualVersion, duplicate: false, adopted };
        }
        if (error instanceof ConcurrencyError) {
          // The log is behind the workflow: events the workflow saw recorded are gone (a database restored from
          // an older backup). Nothing here can repair that; the lead fails loudly and is restarted from its log.
          throw ApplicationFailure.create({ type: 'ConcurrencyError', message: error.message, nonRetryable: true });
        }
        if (isDataError(error)) {
          // PostgreSQL refused the data itself: the same data fails the same way on every retry.
          throw ApplicationFailure.create({
            type: 'UnstorableData',
            message: `the log refused this append's data: ${formatDatabaseError(error)}`,
            nonRetryable: true,
          });
        }
        // Anything else is infrastructure and is retried; its message may quote the data, so only the SQLSTATE
        // goes into the failure Temporal records and the worker logs.
        const described = formatDatabaseError(error);
        if (described !== undefined) throw new Error(`the append failed: ${described}`);
        throw error;
      }
    },

    async validateLead({ leadId, intake }) {
      const fingerprint = leadFingerprint(intake, deps.fingerprintKey);
      const problems: string[] = [];
      // A partner the partner directory holds is reachable through its own channels.
      const listed =
        intake.partner.id !== undefined &&
        findPartner(deps.partners ?? emptyPartnerDirectory, intake.partner.id) !== undefined;
      const contact = intake.partner.email !== undefined || intake.partner.phone !== undefined;
      if (!listed && !contact && intake.source !== 'public') {
        problems.push('the referring partner left neither an email nor a phone number');
      }
      if (intake.kind === 'interview_request' && intake.requestedInterview === undefined) {
        problems.push('an interview request must say when or where the partner wants the interview');
      }
      if (problems.length > 0) return { outcome: 'invalid', fingerprint, problems };
      const { rows } = await deps.pool.query<{ lead_id: string }>(
        `SELECT lead_id FROM leads
          WHERE fingerprint = $1 AND lead_id <> $2 AND NOT (status = 'closed' AND closed_reason IN ('duplicate', 'invalid'))
          ORDER BY received_at, lead_id LIMIT 1`,
        [fingerprint, leadId],
      );
      const original = rows[0]?.lead_id;
      return original === undefined
        ? { outcome: 'valid', fingerprint }
        : { outcome: 'duplicate', fingerprint, duplicateOf: original };
    },

    // A jurisdiction no office serves is still a valid lead: it waits, unassigned, and its ladder reaches HQ.
    routeLead({ jurisdiction }) {
      const office = officeForJurisdiction(deps.directory, jurisdiction);
      return Promise.resolve(office === undefined ? null : { office: office.id });
    },

    async notifyEscalation(notice: EscalationNotice) {
      const roles = rolesForRung[notice.level];
      const office = notice.office ?? 'UNASSIGNED';
      // A lead no office holds yet (or one assigned outside the directory) is HQ's to chase.
      const known = notice.office !== null && findOffice(deps.directory, notice.office) !== undefined;
      const recipients = recipientsFor(deps.directory, known ? office : undefined, known ? roles : ['hq']);
      const notifications = composeNotifications(
        {
          causationId: notice.eventId,
          leadId: notice.leadId,
          kind: notice.kind,
          office,
          level: notice.level === 0 ? undefined : notice.level,
          stage: notice.stage,
          priority: notice.priority,
          deadline: notice.deadline,
        },
        recipients.map((r) => reachable(r, deps.channels)),
        { linkBase: deps.linkBase },
      );
      return deliverEach(deps.delivery, notifications);
    },

    async recordCancellationRefused({ leadId, runId, requestedAt }) {
      // Temporal does not tell the workflow who asked; its history does (the request's identity), so the row
      // points there by run id.
      await recordAudit(deps.pool, {
        actor: 'temporal:cancel-request',
        leadId,
        action: 'CancelWorkflow',
        outcome: 'refused',
        detail: { runId, requestedAt, reason: 'a lead ends only by its own commands (CloseLead, OpenCase)' },
      });
      log.warn('cancellation of a lead workflow refused', { leadId, runId });
    },

    async notifyAssignment(notice: AssignmentNotice) {
      // An office outside the directory has no duty agent to tell: HQ hears of it instead.
      const known = findOffice(deps.directory, notice.office) !== undefined;
      const recipients = recipientsFor(
        deps.directory,
        known ? notice.office : undefined,
        known ? ['assignee'] : ['hq'],
      );
      const notifications = composeNotifications(
        {
          causationId: notice.eventId,
          leadId: notice.leadId,
          kind: 'assignment',
          office: notice.office,
          priority: notice.priority,
          ...(notice.stage === null ? {} : { stage: notice.stage }),
          ...(notice.deadline === null ? {} : { deadline: notice.deadline }),
        },
        recipients.map((r) => reachable(r, deps.channels)),
        { linkBase: deps.linkBase },
      );
      return deliverEach(deps.delivery, notifications);
    },

    async notifyPartner(notice: PartnerNotice) {
      const known = notice.office !== null && findOffice(deps.directory, notice.office) !== undefined;
      if (notice.kind === 'partner_acknowledgement_overdue') {
        // The office's supervisor answers for its partners; HQ at the second rung, and for a lead no known office holds.
        const roles: ContactRole[] = known && notice.level === 1 ? ['supervisor'] : ['hq'];
        const recipients = recipientsFor(deps.directory, known ? (notice.office ?? undefined) : undefined, roles);
        const notifications = composeNotifications(
          {
            causationId: notice.eventId,
            leadId: notice.leadId,
            kind: notice.kind,
            office: notice.office ?? 'UNASSIGNED',
            level: notice.level,
            priority: notice.priority,
            deadline: notice.dueAt,
          },
          recipients.map((r) => reachable(r, deps.channels)),
          { linkBase: deps.linkBase },
        );
        return deliverEach(deps.delivery, notifications);
      }
      // The partner's address and reference live in the intake, sealed in the log: read here, never carried by Temporal.
      const received = (await deps.store.readEvents(notice.leadId)).find((event) => event.type === 'LeadReceived');
      const intake = (received?.data as { intake?: LeadIntake } | undefined)?.intake;
      if (intake === undefined) throw new Error(`lead ${notice.leadId} has no LeadReceived event in its log`);
      const { recipient, milestones } = partnerRecipient(
        deps.partners ?? emptyPartnerDirectory,
        notice.partnerId,
        intake.partner.email,
      );
      // A partner that asked for the acknowledgement alone is not told of milestones (its directory entry says so).
      if (notice.kind === 'partner_milestone' && !milestones) return { delivered: 0, failed: 0 };
      const notifications = composePartnerNotifications(
        {
          causationId: notice.eventId,
          leadId: notice.leadId,
          kind: notice.kind,
          status: notice.status,
          at: notice.at,
          category: notice.category,
          reference: intake.externalReference ?? null,
          office: notice.office ?? 'UNASSIGNED',
        },
        reachable(recipient, deps.channels),
      );
      return deliverEach(deps.delivery, notifications);
    },

    async notifyStabilisationReminder(notice: StabilisationNotice) {
      // The office's supervisor paused the clock and reviews the pause; a lead no known office holds is HQ's.
      const known = notice.office !== null && findOffice(deps.directory, notice.office) !== undefined;
      const recipients = recipientsFor(
        deps.directory,
        known ? (notice.office ?? undefined) : undefined,
        known ? ['supervisor'] : ['hq'],
      );
      const notifications = composeNotifications(
        {
          causationId: notice.eventId,
          leadId: notice.leadId,
          // The category of care stays out: a notification leaves the system.
          kind: notice.reminder === 'expected_end' ? 'stabilisation_expected_end' : 'stabilisation_maximum',
          office: notice.office ?? 'UNASSIGNED',
          priority: notice.priority,
          deadline: notice.due,
        },
        recipients.map((r) => reachable(r, deps.channels)),
        { linkBase: deps.linkBase },
      );
      return deliverEach(deps.delivery, notifications);
    },
  };
}

function reachable(recipient: NotificationRecipient, channels: readonly NotificationChannel[]): NotificationRecipient {
  const { email, webhookUrl, ...rest } = recipient;
  return {
    ...rest,
    ...(email !== undefined && channels.includes('email') ? { email } : {}),
    ...(webhookUrl !== undefined && channels.includes('webhook') ? { webhookUrl } : {}),
  };
}
