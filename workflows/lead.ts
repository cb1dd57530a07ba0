import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  CancellationScope,
  condition,
  continueAsNew,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type { LeadActivities, PartnerNotice, RecordEventsResult } from '../activities/contract';
import {
  allowedCommands,
  decide,
  type LeadRuleViolation,
  evolve,
  nextSlaAction,
  nextWakeAt,
  stageDeadline,
  timelineEntry,
  type TimelineEntry,
} from '../domain';
import type { LeadCommand, CommandRequest } from '../schemas/commands';
import type { LeadEvent, RecordedEvent } from '../schemas/events';
import type { LeadIntake } from '../schemas/intake';
import type { LeadState } from '../schemas/lead';
import { externalCommandTypes, isTerminal, type ExternalCommandType } from '../schemas/vocabulary';
import {
  leadCommandUpdates,
  leadReceivedUpdate,
  leadSearchAttributes,
  leadStateQuery,
  leadTimelineQuery,
  type LeadSnapshot,
  type LeadWorkflowInput,
} from './messages';

/**
 * The append, as a local activity: it runs in this worker without a round trip through the server's
 * task queues, which is most of a command's latency. A stale writer must fail loudly; everything else is
 * infrastructure and is retried until it works. Safe to re-run after a crash: appends are idempotent
 * by event id. Long outages fall back to server-side timers once past the local retry threshold.
 */
const localStore = proxyLocalActivities<Pick<LeadActivities, 'recordEvents'>>({
  startToCloseTimeout: '30 seconds',
  localRetryThreshold: '10 seconds',
  retry: {
    initialInterval: '200 milliseconds',
    maximumInterval: '30 seconds',
    nonRetryableErrorTypes: ['ConcurrencyError'],
  },
});
/**
 * Validation and routing, as local activities: both are short (one indexed query, one directory lookup) and safe to
 * repeat, and running them in this worker saves each lead two round trips through the server's queues.
 */
const localIntake = proxyLocalActivities<Pick<LeadActivities, 'validateLead' | 'routeLead'>>({
  startToCloseTimeout: '30 seconds',
  localRetryThreshold: '10 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '1 minute' },
});
const notifier = proxyActivities<
  Pick<LeadActivities, 'notifyEscalation' | 'notifyAssignment' | 'notifyStabilisationReminder' | 'notifyPartner'>
>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '5 minutes', maximumAttempts: 50 },
});
/**
 * An escalation notice's first attempt, made in this worker: no round trip through the server's queues and no
 * workflow task when it ends (the escalation bench: lag p99 6.7 → 2.3 s, the Temporal server's CPU 60 → 44 %).
 * One attempt, bounded: the workflow task waits for it, so a channel that is down must not hold the lead. What it
 * did not deliver goes to `notifier`, which retries for hours; delivery is idempotent per recipient, so nothing
 * sent is sent again. Only escalation notices: they come from timers, while an assignment notice shares its
 * workflow task with a submission or a command whose caller would wait for the channel too.
 */
const localNotifier = proxyLocalActivities<Pick<LeadActivities, 'notifyEscalation' | 'notifyStabilisationReminder'>>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 1 },
});

/**
 * A rule's refusal as the caller sees it. A failure's message is in clear in Temporal's history (a handler's refusal
 * is recorded there), and which safety rules a lead broke says something about its victim (a minor, unsafe contact):
 * those travel in the details only, a payload and so encrypted, with the code, status and allowed commands.
 */
function refusalOf(error: LeadRuleViolation): ApplicationFailure {
  const safety = error.rules.length > 0;
  return ApplicationFailure.create({
    type: error.name,
    message: safety ? 'the command is refused by a rule; its details say which' : error.message,
    nonRetryable: true,
    details: [
      {
        code: error.code,
        status: error.status,
        allowed: error.allowed,
        ...(safety ? { rules: error.rules, message: error.message } : {}),
      },
    ],
  });
}

const SYSTEM = { validation: 'system:validation', routing: 'system:routing', sla: 'system:sla' } as const;

const audit = proxyActivities<Pick<LeadActivities, 'recordCancellationRefused'>>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

/*
 * Changing this workflow (release 1.0 on): every running lead replays its history against the code its worker runs,
 * so a change to the commands a history holds (an activity, local activity, timer, search-attribute upsert or
 * continue-as-new added, removed, reordered or given other options) breaks every lead begun before it. Guard such a
 * change with `patched('<release>-<change>')`, e.g. `if (patched('1.1-partner-digest')) ...new... else ...old...`,
 * record that release's histories (`npx tsx scripts/record-histories.ts 1.1`) and keep the old branch until no
 * running lead began before the change; then `deprecatePatch('<release>-<change>')` for one release, and delete it.
 * test/replay.unit.test.ts replays every recorded release against this code.
 */

/**
 * A lead ends only by its own commands (CloseLead, OpenCase). A cancellation request (the Temporal UI's
 * "Request Cancellation", `temporal workflow cancel`) would otherwise end the workflow while the read model still
 * shows the lead open and nothing escalates it again: the lead runs in a scope that cancellation does not reach,
 * and the request is audited and logged instead. (A terminate cannot be refused; the reconciler restarts the lead
 * from its log.)
 */
export async function leadWorkflow(input: LeadWorkflowInput): Promise<LeadSnapshot> {
  // Runs begun before 1.1 keep the old ways: continue as new only when the server suggests it, after waiting for
  // whatever runs; and a refusal still being audited when the run continues as new is left behind.
  const bounded = patched('1.1-bounded-history');
  const refusals = new Set<Promise<void>>();
  CancellationScope.current().cancelRequested.catch(() => {
    log.warn('cancellation request refused: a lead ends only by its own commands', { leadId: input.leadId });
    const recorded = CancellationScope.nonCancellable(() =>
      audit.recordCancellationRefused({
        leadId: input.leadId,
        runId: workflowInfo().runId,
        requestedAt: new Date(Date.now()).toISOString(),
      }),
    ).finally(() => refusals.delete(recorded));
    refusals.add(recorded);
  });
  if (!bounded) {
    const result = await CancellationScope.nonCancellable(() => runLead(input, false));
    await Promise.allSettled([...refusals]);
    return result;
  }
  try {
    return await CancellationScope.nonCancellable(() => runLead(input, true));
  } finally {
    // Continuing as new too: every refused cancellation is audited by the run that refused it.
    await Promise.allSettled([...refusals]);
  }
}

/**
 * A run continues as new once its history holds this many events, if the server has not suggested it sooner. A
 * worker that takes a lead it has not cached replays the run's whole history within the lead's workflow-task
 * timeout (LEADLINE_WORKFLOW_TASK_TIMEOUT, 5 s): 4,102 events (the server's own suggestion comes at about 4,000)
 * took 2.8 s to replay on a quiet 2-core machine, 1,227 events 0.95 s.
 */
const HISTORY_EVENTS_PER_RUN = 1000;

async function runLead(input: LeadWorkflowInput, boundedHistory: boolean): Promise<LeadSnapshot> {
  const continueDue = () =>
    workflowInfo().continueAsNewSuggested || (boundedHistory && workflowInfo().historyLength >= HISTORY_EVENTS_PER_RUN);
  /**
   * Due, and nothing left running that the next run could not carry on: the intake's checks (the next run has no
   * intake), a command's handler, a notice. Until then the lead keeps its clock and its commands; it does not stop to
   * wait (a check retried through a database outage, a notice retried for hours).
   */
  const continueReady = () =>
    continueDue() && !intakeRunning && !busy && deliveries.size === 0 && allHandlersFinished();
  const { policy } = input;
  let state: LeadState | undefined = input.carried?.state;
  const timeline: TimelineEntry[] = input.carried?.timeline ?? [];
  const deliveries = new Set<Promise<unknown>>();
  // A new lead's intake is recorded before any command may touch it.
  let busy = state === undefined;

  const nowIso = () => new Date(Date.now()).toISOString();
  const snapshot = (s: LeadState): LeadSnapshot => ({
    state: s,
    stageDeadline: stageDeadline(s.sla),
    nextSlaAction: nextSlaAction(s, policy),
    allowedCommands: allowedCommands(s),
    policyVersion: policy.version,
  });

  /** Serialises state changes: each decision sees the state its predecessor recorded. */
  async function exclusively<T>(fn: () => Promise<T>): Promise<T> {
    // Update handlers run in the workflow's root scope, which a cancellation request reaches; the lead refuses it.
    return CancellationScope.nonCancellable(async () => {
      while (busy) await condition(() => !busy);
      busy = true;
      return held(fn);
    });
  }
  async function held<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } finally {
      busy = false;
    }
  }

  async function execute(command: LeadCommand): Promise<LeadEvent[]> {
    // Each pass decides against the state the log last showed; a pass that finds the log ahead adopts it and
    // decides again, so the command is recorded once, after whatever the log already holds.
    for (;;) {
      const decision = decide(command, state, policy);
      if (!decision.ok) throw refusalOf(decision.error);
      if (decision.events.length === 0) return [];
      const recorded: RecordedEvent[] = decision.events.map((event) => ({ ...event, eventId: uuid4() }));
      const expectedVersion = state?.version ?? 0;
      const append = {
        leadId: input.leadId,
        expectedVersion,
        events: recorded,
        command: { type: command.type, data: command.data },
        writer: workflowInfo().runId,
      };
      let appended: RecordEventsResult;
      try {
        appended = await localStore.recordEvents(append);
      } catch (error) {
        // A command whose data its schema (or PostgreSQL) refuses fails as the caller's mistake, not as an outage.
        if (error instanceof ActivityFailure && error.cause instanceof ApplicationFailure) {
          if (error.cause.type === 'InvalidCommand' || error.cause.type === 'UnstorableData') throw error.cause;
        }
        throw error;
      }
      if (appended.committedAt !== undefined) appendClock = Math.max(appendClock, appended.committedAt);
      if (appended.adopted === undefined) {
        // What the append committed, as its marker keeps it: a replay folds the log's copy, never a proposal of its
        // own.
        const committed = appended.events ?? recorded;
        fold(expectedVersion, committed);
        return committed;
      }
      // The log already held events from here on (an earlier attempt of this task committed them before it was
      // lost): the lead's state, clocks and timeline are the log's, never this attempt's proposal.
      const { events: adopted, foreignWriter } = appended.adopted;
      if (foreignWriter) log.error('lead log written by another run; adopted', { leadId: input.leadId });
      else log.warn('adopted events recorded by an earlier attempt', { leadId: input.leadId, events: adopted.length });
      fold(expectedVersion, adopted);
      const mine = adopted.filter((event) => event.metadata.commandId === command.metadata.commandId);
      if (mine.length > 0) return mine;
      // The log already holds this lead's intake, under another command id: it was received all the same.
      if (command.type === 'ReceiveLead') return adopted.filter((event) => event.type === 'LeadReceived');
    }
  }

  /** Folds events the log holds from `fromVersion` on into the lead, and acts on them once. */
  function fold(fromVersion: number, events: RecordedEvent[]) {
    const partnerNotices: PartnerNotice[] = [];
    events.forEach((event, i) => {
      const before = state?.partner;
      state = evolve(state, event);
      timeline.push(timelineEntry(fromVersion + i + 1, event));
      partnerNotices.push(...partnerNoticesOf(event, before, state));
    });
    publishSearchAttributes();
    for (const event of events) {
      notifyIfEscalation(event);
      notifyIfAssigned(event);
      notifyIfStabilisationReminder(event);
    }
    for (const notice of partnerNotices) track(notifier.notifyPartner(notice), 'partner notice');
  }

  /**
   * What the partner loop says of an event, read from how it moved the partner's clock: once per event, since each
   * event is folded once (an adopted one included) and its id keys the delivery. Only leads with a partner clock
   * (any source but a public tip) have any. Server-side activities, retried for hours: they share their workflow
   * task with a submission or a command, whose caller would otherwise wait for the partner's channel.
   */
  function partnerNoticesOf(
    event: RecordedEvent,
    before: LeadState['partner'],
    after: LeadState | undefined,
  ): PartnerNotice[] {
    const partner = after?.partner;
    if (before === undefined || partner === undefined || after === undefined) return [];
    const common = { leadId: input.leadId, eventId: event.eventId, office: after.office };
    if (event.type === 'PartnerAcknowledgementOverdue') {
      return [
        {
          ...common,
          kind: 'partner_acknowledgement_overdue',
          level: event.data.level,
          dueAt: event.data.dueAt,
          priority: after.priority,
        },
      ];
    }
    const told = { ...common, partnerId: partner.id };
    const notices: PartnerNotice[] = [];
    // A first milestone acknowledges too; its own notice says more than an acknowledgement would.
    const milestone = partner.milestones.length > before.milestones.length ? partner.milestones.at(-1) : undefined;
    if (milestone !== undefined) {
      notices.push({
        ...told,
        kind: 'partner_milestone',
        status: milestone.milestone,
        at: milestone.at,
        category: milestone.category,
      });
    } else if (before.acknowledgedAt === null && partner.acknowledgedAt !== null) {
      notices.push({
        ...told,
        kind: 'partner_acknowledgement',
        status: 'acknowledged',
        at: partner.acknowledgedAt,
        category: null,
      });
    }
    return notices;
  }

  /** A stabilisation pause's reminder, recorded once as an event, goes to the supervisor as an escalation notice does. */
  function notifyIfStabilisationReminder(event: RecordedEvent) {
    if (state === undefined || event.type !== 'StabilisationReminded') return;
    track(
      sendNotice(notifier.notifyStabilisationReminder, localNotifier.notifyStabilisationReminder, {
        leadId: input.leadId,
        eventId: event.eventId,
        reminder: event.data.reminder,
        due: event.data.due,
        office: state.office,
        priority: state.priority,
      }),
      'stabilisation reminder',
    );
  }

  function notifyIfEscalation(event: RecordedEvent) {
    if (state === undefined || (event.type !== 'SlaWarning' && event.type !== 'LeadEscalated')) return;
    track(
      sendNotice(notifier.notifyEscalation, localNotifier.notifyEscalation, {
        leadId: input.leadId,
        eventId: event.eventId,
        kind: event.type === 'SlaWarning' ? 'sla_warning' : 'escalation',
        level: event.type === 'SlaWarning' ? 0 : (event.data.level as 1 | 2 | 3),
        stage: event.data.stage,
        deadline: event.data.deadline,
        office: state.office,
        agent: state.agent,
        priority: state.priority,
      }),
      'escalation notice',
    );
  }

  function notifyIfAssigned(event: RecordedEvent) {
    if (state === undefined || (event.type !== 'LeadAssigned' && event.type !== 'LeadReassigned')) return;
    track(
      notifier.notifyAssignment({
        leadId: input.leadId,
        eventId: event.eventId,
        office: event.data.office,
        agent: event.data.agent,
        priority: state.priority,
        stage: state.sla.stage,
        deadline: stageDeadline(state.sla),
      }),
      'assignment notice',
    );
  }

  /** The worker's own attempt first, the server's retries for what it left. */
  function sendNotice<N>(remote: (notice: N) => Promise<unknown>, local: (notice: N) => Promise<unknown>, notice: N) {
    return local(notice).catch(() => remote(notice));
  }

  /** Notices run beside the lead's life; the workflow waits for them before it ends or continues as new. */
  function track(delivery: Promise<unknown>, what: string) {
    const tracked: Promise<unknown> = delivery
      .catch((err: unknown) => {
        // The event is recorded either way; a delivery that failed for good is in the notifications table.
        log.warn(`${what} not delivered`, { leadId: input.leadId, error: String(err) });
      })
      .finally(() => deliveries.delete(tracked));
    deliveries.add(tracked);
  }

  /** What this run last wrote to each search attribute, so an append that changes none writes none. */
  const published = new Map<string, unknown>();
  function publishSearchAttributes() {
    if (state === undefined) return;
    const deadline = nextSlaAction(state, policy)?.at ?? stageDeadline(state.sla);
    const all: SearchAttributeUpdatePair[] = [
      { key: leadSearchAttributes.status, value: state.status },
      { key: leadSearchAttributes.priority, value: state.priority },
      { key: leadSearchAttributes.source, value: state.source },
      { key: leadSearchAttributes.office, value: state.office },
      { key: leadSearchAttributes.escalationLevel, value: state.sla.level },
      { key: leadSearchAttributes.nextDeadline, value: deadline === null ? null : new Date(deadline) },
    ];
    const updates = all.filter(({ key, value }) => published.get(key.name) !== comparable(value));
    if (updates.length === 0) return;
    for (const { key, value } of updates) published.set(key.name, comparable(value));
    upsertSearchAttributes(updates);
  }
  const comparable = (value: unknown) => (value instanceof Date ? value.getTime() : value);

  /**
   * The SLA timer, kept while its deadline stands: a command that leaves the deadline where it was (a note,
   * an acknowledgement) neither cancels nor restarts it.
   */
  interface SlaTimer {
    at: string;
    fired: boolean;
    scope?: CancellationScope;
  }
  let slaTimer: SlaTimer | undefined;
  /**
   * Workflow time stands still through a workflow task, but Temporal starts a timer when the task ends: a timer
   * armed after the task's appends would fire late by all of them. The last append's own clock is nearer the
   * truth; a timer that fires early by it (a worker clock ahead of the server's) is armed again on workflow time.
   */
  let appendClock = 0;
  function armSlaTimer(at: string | null): SlaTimer | undefined {
    if (slaTimer !== undefined && slaTimer.at === at && !slaTimer.fired) return slaTimer;
    if (slaTimer !== undefined && !slaTimer.fired) slaTimer.scope?.cancel();
    slaTimer = undefined;
    if (at === null) return undefined;
    const waitMs = Math.max(0, Date.parse(at) - Math.max(Date.now(), appendClock));
    // Already due: no timer.
    if (waitMs === 0) return (slaTimer = { at, fired: true });
    const timer: SlaTimer = { at, fired: false, scope: new CancellationScope() };
    slaTimer = timer;
    void timer.scope
      ?.run(() => sleep(waitMs))
      .then(
        () => {
          timer.fired = true;
        },
        () => undefined, // cancelled: the deadline moved
      );
    return timer;
  }

  /**
   * Shapes a caller's request into a command. Only the envelope is checked here: the workflow bundle carries
   * no zod (it would be evaluated again for every cached lead), so the data is checked against its schema
   * by the append, before anything is written. The LeadClient checks it before sending, too.
   */
  function commandFrom(type: ExternalCommandType, request: CommandRequest): LeadCommand {
    const data: unknown = request?.data;
    if (typeof data !== 'object' || data === null || Array.isArray(data)) {
      throw ApplicationFailure.create({
        type: 'InvalidCommand',
        message: `${type} is malformed: (data): expected an object`,
        nonRetryable: true,
        details: [{ issues: ['(data): expected an object'] }],
      });
    }
    const metadata: Partial<CommandRequest['metadata']> | undefined = request.metadata;
    if (typeof metadata?.actor !== 'string' || typeof metadata.commandId !== 'string') {
      throw ApplicationFailure.create({
        type: 'InvalidCommand',
        message: `${type} needs metadata.actor and metadata.commandId`,
        nonRetryable: true,
      });
    }
    return {
      type,
      data,
      metadata: { actor: metadata.actor, commandId: metadata.commandId, at: nowIso() },
    } as LeadCommand;
  }

  setHandler(leadReceivedUpdate, async () => {
    await CancellationScope.nonCancellable(() => condition(() => state !== undefined));
    const received = current();
    if (received === undefined) throw ApplicationFailure.nonRetryable('the lead was never received');
    const intakeDigest = input.intakeDigest ?? input.carried?.intakeDigest;
    return {
      leadId: received.leadId,
      workflowId: workflowInfo().workflowId,
      receivedAt: received.receivedAt,
      ...(intakeDigest === undefined ? {} : { intakeDigest }),
    };
  });
  setHandler(leadStateQuery, () => (state === undefined ? null : snapshot(state)));
  setHandler(leadTimelineQuery, () => timeline);
  for (const type of externalCommandTypes) {
    setHandler(
      leadCommandUpdates[type],
      (request: CommandRequest) =>
        exclusively(async () => {
          await execute(commandFrom(type, request));
          if (state === undefined) throw ApplicationFailure.nonRetryable('the lead has not been received yet');
          return snapshot(state);
        }),
      {
        // Refuse before anything is written to history: malformed data or a command the state does not allow.
        validator: (request: CommandRequest) => {
          const command = commandFrom(type, request);
          // Before the intake is recorded only the shape can be checked; the handler decides once it is.
          if (state === undefined) return;
          const decision = decide(command, state, policy);
          if (!decision.ok) throw refusalOf(decision.error);
        },
      },
    );
  }

  // Handlers change `state` behind the compiler's back; read it through a function so narrowing stays honest.
  const current = (): LeadState | undefined => state;
  /**
   * A system command's id, never one the lead already holds: a task re-run after a crash draws ids again, in another
   * order when its jobs came in another order, so a fresh draw may repeat the id of a command an earlier attempt
   * recorded, and the lead would refuse it as a reused commandId. Replays fold the same state, so they draw the same.
   */
  const freshCommandId = () => {
    let id = uuid4();
    while (current()?.recentCommandIds.includes(id) === true) id = uuid4();
    return id;
  };
  const system = (actor: string) => ({ actor, at: nowIso(), commandId: freshCommandId() });
  let intakeRunning = false;
  let intakeFailure: Error | undefined;

  /** `resumed`: a run restarted from the log, which checks only what its lead has not passed yet. */
  const intakeSteps = async (intakeData: LeadIntake, resumed = false) => {
    if (!resumed || current()?.status === 'received') {
      const validation = await localIntake.validateLead({ leadId: input.leadId, intake: intakeData });
      await exclusively(async () => {
        // A supervisor may have validated or closed the lead while the check ran.
        if (current()?.status === 'received')
          await execute(commandFrom('ValidateLead', { data: validation, metadata: system(SYSTEM.validation) }));
      });
    }
    const validated = current();
    if (validated?.status === 'validated') {
      const route = await localIntake.routeLead({ leadId: input.leadId, jurisdiction: validated.jurisdiction });
      await exclusively(async () => {
        if (route !== null && current()?.status === 'validated') {
          await execute(
            commandFrom('AssignLead', {
              data: { office: route.office, routed: true },
              metadata: system(SYSTEM.routing),
            }),
          );
        }
      });
    }
  };
  // The SLA clock runs while validation and routing do, so a check that hangs still escalates.
  const intakeStepsBeside = (intakeData: LeadIntake, resumed = false) => {
    intakeRunning = true;
    void intakeSteps(intakeData, resumed).then(
      () => {
        intakeRunning = false;
      },
      (error: unknown) => {
        intakeFailure = error instanceof Error ? error : new Error(String(error));
        intakeRunning = false;
      },
    );
  };

  if (state === undefined) {
    const intakeData = input.intake;
    if (intakeData === undefined) throw ApplicationFailure.nonRetryable('a new lead workflow needs its intake');
    const submittedBy = input.submittedBy ?? { actor: 'system:intake', commandId: uuid4() };
    // The lock was taken at start (busy = true); `held` releases it once the intake is recorded.
    await held(() =>
      execute({
        type: 'ReceiveLead',
        data: { leadId: input.leadId, intake: intakeData },
        metadata: { ...submittedBy, at: nowIso() },
      }),
    );
    intakeStepsBeside(intakeData);
  } else {
    publishSearchAttributes();
    // A lead restarted from its log before its checks finished (its intake comes from the log) finishes them.
    const status = current()?.status;
    if (input.intake !== undefined && (status === 'received' || status === 'validated')) {
      intakeStepsBeside(input.intake, true);
    }
  }

  for (let lead = current(); lead !== undefined && !isTerminal(lead.status); lead = current()) {
    const seen = lead.version;
    // The next rung of the ladder or, while a stabilisation pause runs, its next reminder.
    const wakeAt = nextWakeAt(lead, policy);
    const changed = () =>
      state?.version !== seen || (boundedHistory ? continueReady() : continueDue()) || intakeFailure !== undefined;
    const timer = armSlaTimer(wakeAt);
    await condition(() => changed() || timer?.fired === true);
    const due = !changed();
    if (due && wakeAt !== null && Date.parse(wakeAt) > Date.now()) {
      // Early by the append clock's lead over workflow time: wait out the rest on workflow time alone.
      appendClock = 0;
      continue;
    }
    if (due && wakeAt !== null) {
      await exclusively(async () => {
        if (current()?.version !== seen) return;
        const fired = await execute({ type: 'CheckSla', data: {}, metadata: system(SYSTEM.sla) });
        // Nothing fired because the log already held this rung (adopted after a crash) is no fault.
        if (fired.length === 0 && current()?.version === seen) {
          // Never spin: a clock that is due but fires nothing is a bug to look at, not a reason to loop hot.
          log.error('SLA timer fired without an event', { leadId: input.leadId, due: wakeAt });
          await condition(changed, '1 minute');
        }
      });
    }
    // A failed intake step (a stale writer, say) fails the lead loudly rather than leaving it half-done.
    if (intakeFailure !== undefined) throw intakeFailure;
    const latest = current();
    if (boundedHistory && continueReady() && latest !== undefined && !isTerminal(latest.status)) {
      // Nothing runs, and nothing can start before this task ends: the next run takes the lead as it stands.
      const intakeDigest = input.intakeDigest ?? input.carried?.intakeDigest;
      const carried = { state: latest, timeline, ...(intakeDigest === undefined ? {} : { intakeDigest }) };
      return continueAsNew<typeof leadWorkflow>({ leadId: input.leadId, policy, carried });
    }
    if (!boundedHistory && continueDue() && latest !== undefined && !isTerminal(latest.status)) {
      // The next run has no intake: validation and routing must have finished in this one.
      await condition(() => !intakeRunning);
      await condition(allHandlersFinished);
      await Promise.allSettled([...deliveries]);
      const intakeDigest = input.intakeDigest ?? input.carried?.intakeDigest;
      const carried = { state: current() ?? latest, timeline, ...(intakeDigest === undefined ? {} : { intakeDigest }) };
      return continueAsNew<typeof leadWorkflow>({ leadId: input.leadId, policy, carried });
    }
  }

  await condition(() => !intakeRunning);
  if (intakeFailure !== undefined) throw intakeFailure;
  await condition(allHandlersFinished);
  await Promise.allSettled([...deliveries]);
  const final = current();
  if (final === undefined) throw ApplicationFailure.nonRetryable('the lead was never received');
  return snapshot(final);
}
