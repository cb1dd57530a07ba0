import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { CommandRejectedError } from '../../client/errors';
import type { LeadClient } from '../../client/lead-client';
import type { ExternalCommandType } from '../../schemas/commands';
import type { LeadIntakeInput } from '../../schemas/intake';
import { Duration, SlaPolicy, defaultSlaPolicyInput } from '../../schemas/sla-policy';
import { sampleIntakeInputs } from './lead-fixtures';

/*
 * A history of leads for the SLA simulator, made by real lead workflows on Temporal's time-skipping test server: each
 * lead is submitted, routed and moved by commands at instants a seeded generator picks, and its SLA timers record
 * the rungs they reach, as in production. Weeks of virtual time pass in minutes.
 *
 * Every command lands on a 10-minute grid (the test server skips from one grid instant to the next, firing the timers
 * due in between). The policy in force here (`seedPolicy`) adds a few seconds to each budget and to the hold, so no
 * rung ever falls due at the instant of a grid command: at such a tie the live workflow takes whichever its task sees
 * first, and the simulator (rightly) cannot know which. Real traffic meets that tie only within a timer's lag.
 */

const S = 1000;
const H = 3_600_000;
export const GRID_MS = 10 * 60_000;

/**
 * The defaults of DESIGN.md, each budget 17 s longer (the partner's acknowledgement budgets too) and the hold 23 s
 * longer (see above).
 */
export function seedPolicy(): SlaPolicy {
  const stages = Object.fromEntries(
    Object.entries(defaultSlaPolicyInput.stages).map(([stage, budget]) => [
      stage,
      { standard: ms(budget.standard) + 17 * S, urgent: ms(budget.urgent) + 17 * S },
    ]),
  );
  return SlaPolicy.parse({
    ...defaultSlaPolicyInput,
    version: 'seed-in-force',
    stages,
    reEscalationInterval: 4 * H + 23 * S,
    partner: {
      acknowledgement: {
        standard: ms(defaultSlaPolicyInput.partner?.acknowledgement.standard ?? '24h') + 17 * S,
        urgent: ms(defaultSlaPolicyInput.partner?.acknowledgement.urgent ?? '2h') + 17 * S,
      },
      ladder: defaultSlaPolicyInput.partner?.ladder ?? [1, 2],
    },
  });
}

const ms = (duration: string | number) => Duration.parse(duration);

/** One step of a lead's script: at `slot` grid steps after the history begins. */
export interface ScriptStep {
  slot: number;
  type: 'Submit' | ExternalCommandType;
  data: Record<string, unknown>;
}

const offices = ['HSI-NEWARK', 'HSI-NEWYORK', 'HSI-LOSANGELES', 'HSI-GULFCOAST'];

/** Deterministic scripts for `leads` leads: intakes, stage moves, pauses, acknowledgements, priority changes. */
export function leadScripts(leads: number, seed: number, spreadSlots: number): ScriptStep[][] {
  const random = mulberry32(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const hours = (min: number, max: number) => Math.max(1, Math.round(((min + random() * (max - min)) * H) / GRID_MS));
  const samples = sampleIntakeInputs();
  const scripts: ScriptStep[][] = [];
  for (let i = 0; i < leads; i++) {
    const steps: ScriptStep[] = [];
    let slot = Math.floor(random() * spreadSlots);
    const name = pick([
      'ngo-farmworkers',
      'newark-interview-request',
      'hhs-tipline-minor',
      'public-unknown-jurisdiction',
    ]);
    const sample = samples[name] as LeadIntakeInput;
    steps.push({ slot, type: 'Submit', data: { ...sample, externalReference: `SIM-${seed}-${i}` } });
    const at = (gap: number, type: ExternalCommandType, data: Record<string, unknown> = {}) => {
      slot += gap;
      steps.push({ slot, type, data });
    };
    /** Now and then, within a stage: a pause, an acknowledgement, a priority change, a move to another office. */
    const asides = () => {
      if (random() < 0.2) {
        at(hours(1, 30), 'PauseSla', { justification: 'victim stabilisation' });
        at(hours(1, 24), 'ResumeSla');
      }
      if (random() < 0.3) at(hours(1, 40), 'AcknowledgeEscalation', { note: 'on it' });
      if (random() < 0.15)
        at(hours(1, 20), 'ChangePriority', { priority: pick(['urgent', 'standard']), reason: 'review' });
      if (random() < 0.1) at(hours(1, 20), 'ReassignLead', { office: pick(offices), reason: 'workload' });
    };
    if (name === 'public-unknown-jurisdiction') {
      // Unrouted: HQ assigns most of them, some late, some never.
      if (random() < 0.2) {
        at(hours(1, 40), 'AcknowledgeEscalation', { note: 'HQ is on it' });
        scripts.push(steps);
        continue;
      }
      at(hours(0.5, 36), 'AssignLead', { office: pick(offices) });
    }
    asides();
    if (random() < 0.05) {
      at(hours(1, 30), 'CloseLead', { reason: 'referred_to_other_agency' });
      scripts.push(steps);
      continue;
    }
    if (random() < 0.9) {
      at(hours(1, 70), 'RequestInterview', {
        scheduledFor: '2027-01-15T15:00:00.000Z',
        place: 'field office',
        // The seeded intakes name victims who need an interpreter: the contact-safety rules want one named.
        interpreterLanguage: 'es',
        victimSpecialist: true,
      });
      asides();
      if (random() < 0.85) {
        at(hours(1, 90), 'CompleteInterview', { outcome: pick(['victim_identified', 'victim_declined']) });
        asides();
        if (random() < 0.9) {
          const caseNumber = `HSI-SIM-2026-${String(i).padStart(4, '0')}`;
          if (random() < 0.6) at(hours(1, 240), 'OpenCase', { caseNumber });
          else at(hours(1, 240), 'CloseLead', { reason: 'victim_declined' });
        }
      }
    }
    scripts.push(steps);
  }
  return scripts;
}

/**
 * Leads whose partner waits: a partner's intake in a jurisdiction no office's rules route (so no routed assignment
 * acknowledges it), then, hours apart, HQ's manual assignment (which does not acknowledge), a person's
 * AcknowledgePartner or a first milestone (which do), or nothing at all. With the policy's 24 h (urgent 2 h) budget
 * and its ladder at 100 % and 200 %, some are acknowledged in time and some climb one rung or both.
 */
export function partnerLeadScripts(seed: number, firstSlot: number): ScriptStep[][] {
  const samples = sampleIntakeInputs();
  const unrouted = (name: string, i: number): ScriptStep => {
    const sample = samples[name] as LeadIntakeInput;
    return {
      slot: firstSlot + i * 7,
      type: 'Submit',
      data: {
        ...sample,
        location: { ...sample.location, jurisdiction: 'US-MT' },
        externalReference: `SIM-PARTNER-${seed}-${i}`,
      },
    };
  };
  const h = (hours: number) => (hours * H) / GRID_MS;
  const plans: [name: string, steps: [hours: number, type: ExternalCommandType][]][] = [
    // Acknowledged in time: nothing.
    [
      'ngo-farmworkers',
      [
        [10, 'AcknowledgePartner'],
        [12, 'AssignLead'],
      ],
    ],
    // Acknowledged at 30 h: level 1 only.
    [
      'newark-interview-request',
      [
        [20, 'AssignLead'],
        [30, 'AcknowledgePartner'],
      ],
    ],
    // Assigned by hand (no acknowledgement), the interview requested at 60 h: level 1 and level 2 first.
    [
      'ngo-farmworkers',
      [
        [20, 'AssignLead'],
        [60, 'RequestInterview'],
      ],
    ],
    // An urgent intake (a minor), acknowledged at 3 h: past the 2 h budget, short of 4 h.
    ['hhs-tipline-minor', [[3, 'AcknowledgePartner']]],
    // Never acknowledged: both rungs while the lead stays open.
    ['newark-interview-request', []],
  ];
  return plans.map(([name, steps], i) => {
    const submit = unrouted(name, i);
    return [
      submit,
      ...steps.map(([hours, type]): ScriptStep => {
        const data: Record<string, unknown> =
          type === 'AssignLead'
            ? { office: 'HSI-NEWARK' }
            : type === 'RequestInterview'
              ? {
                  scheduledFor: '2027-01-15T15:00:00.000Z',
                  place: 'field office',
                  interpreterLanguage: 'es',
                  victimSpecialist: true,
                }
              : {};
        return { slot: submit.slot + h(hours), type, data };
      }),
    ];
  });
}

export interface SeedResult {
  leadIds: string[];
  submitted: number;
  commands: number;
  /** Commands the lead's state refused (an acknowledgement with nothing escalated, say): nothing was written. */
  refused: number;
  /** Virtual time the history spans, and the wall time it took. */
  virtualMs: number;
  wallMs: number;
}

/**
 * Runs the scripts on real lead workflows: the test server skips from one grid instant to the next, and each
 * instant's steps are sent then, leads side by side (`concurrency` at a time), each lead's steps in order.
 */
export async function seedSlaHistory(
  env: TestWorkflowEnvironment,
  client: LeadClient,
  scripts: ScriptStep[][],
  options: { concurrency?: number; settleHours?: number; onProgress?: (line: string) => void } = {},
): Promise<SeedResult> {
  const wall = Date.now();
  const startVirtual = await env.currentTimeMs();
  // The first grid instant after now.
  const origin = Math.ceil((startVirtual + 1) / GRID_MS) * GRID_MS;
  const bySlot = new Map<number, { lead: number; step: ScriptStep }[]>();
  scripts.forEach((steps, lead) => {
    for (const step of steps) bySlot.set(step.slot, [...(bySlot.get(step.slot) ?? []), { lead, step }]);
  });
  const leadIds: (string | undefined)[] = scripts.map(() => undefined);
  const result = { submitted: 0, commands: 0, refused: 0 };
  const slots = [...bySlot.keys()].sort((a, b) => a - b);
  let done = 0;
  for (const slot of slots) {
    const now = await env.currentTimeMs();
    const target = origin + slot * GRID_MS;
    if (target > now) await env.sleep(target - now);
    const byLead = new Map<number, ScriptStep[]>();
    for (const { lead, step } of bySlot.get(slot) ?? []) byLead.set(lead, [...(byLead.get(lead) ?? []), step]);
    await eachLimit([...byLead.entries()], options.concurrency ?? 16, async ([lead, steps]) => {
      for (const step of steps) {
        if (step.type === 'Submit') {
          const receipt = await client.submitLead(step.data as LeadIntakeInput, { actor: 'svc:seed' });
          leadIds[lead] = receipt.leadId;
          result.submitted++;
          continue;
        }
        const leadId = leadIds[lead];
        if (leadId === undefined) continue;
        try {
          await client.command(leadId, step.type, step.data, { actor: 'supervisor:seed' });
          result.commands++;
        } catch (error) {
          if (!(error instanceof CommandRejectedError)) throw error;
          result.refused++;
        }
      }
    });
    done++;
    if (options.onProgress !== undefined && done % 200 === 0) {
      options.onProgress(
        `seed: ${done}/${slots.length} instants, ${result.submitted} leads, ${result.commands} commands`,
      );
    }
  }
  // Past the last command, the open leads' clocks run on (and their rungs fire) for a while.
  await env.sleep((options.settleHours ?? 48) * H + 5 * S);
  return {
    leadIds: leadIds.filter((id): id is string => id !== undefined),
    ...result,
    virtualMs: (await env.currentTimeMs()) - startVirtual,
    wallMs: Date.now() - wall,
  };
}

async function eachLimit<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/** A small seeded generator: the same seed gives the same history. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
