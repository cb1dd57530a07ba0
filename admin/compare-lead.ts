import type { EventEnvelope } from '../activities/event-store';
import type { FieldCrypto } from '../activities/field-crypto';
import { fold, stageDeadline } from '../domain';
import type { LeadEvent } from '../schemas/events';
import { terminalStatuses, type LeadState } from '../schemas/lead';
import type { LeadSnapshot } from '../workflows/messages';
import { diffValues, type Difference } from './differences';
import { diffImages, imageOfEvents, type RowImage } from './lead-rows';

export type WorkflowView = { running: true; snapshot: LeadSnapshot | null } | { running: false; status: string };

export interface LeadCheck {
  open: boolean;
  differences: Difference[];
  /** The workflow has not yet applied events the log holds. */
  lagging: boolean;
}

/** One lead's three views compared; the log is the reference. */
export function compareLead(
  crypto: FieldCrypto,
  leadId: string,
  workflow: WorkflowView,
  row: RowImage | undefined,
  events: EventEnvelope[],
): LeadCheck {
  const differences: Difference[] = [];
  let logState: LeadState | undefined;
  try {
    logState = fold(events as unknown as LeadEvent[]);
  } catch (error) {
    const failure = `does not fold (${(error as Error).name})`;
    return {
      open: true,
      lagging: false,
      differences: [{ leadId, views: ['read_model', 'log'], field: 'log', values: ['-', failure] }],
    };
  }

  const wfState = workflow.running ? workflow.snapshot?.state : undefined;
  const toLog = ['workflow', 'log'] as const;
  if (!workflow.running) {
    if (logState !== undefined && !isFinished(logState.status)) {
      differences.push({
        leadId,
        views: toLog,
        field: 'execution',
        values: [workflow.status, `open (${logState.status})`],
      });
    }
  } else if (wfState === undefined || logState === undefined) {
    if (wfState !== undefined || logState !== undefined) {
      const shown = (s: LeadState | undefined) => (s === undefined ? '(no state)' : `version ${s.version}`);
      differences.push({ leadId, views: toLog, field: 'state', values: [shown(wfState), shown(logState)] });
    }
  } else {
    differences.push(...diffValues(leadId, toLog, 'state', wfState, logState));
    const deadlines = [workflow.snapshot?.stageDeadline ?? null, stageDeadline(logState.sla)] as const;
    if (deadlines[0] !== deadlines[1]) {
      differences.push({
        leadId,
        views: toLog,
        field: 'stage_deadline',
        values: [String(deadlines[0]), String(deadlines[1])],
      });
    }
  }

  const toRow = ['read_model', 'log'] as const;
  if (row === undefined) {
    if (logState !== undefined) {
      differences.push({ leadId, views: toRow, field: 'row', values: ['(absent)', `version ${events.length}`] });
    }
  } else if (events.length === 0) {
    differences.push({ leadId, views: toRow, field: 'row', values: [`version ${row.version}`, '(no events)'] });
  } else {
    differences.push(...diffImages(leadId, toRow, row, imageOfEvents(crypto, leadId, events)));
  }

  const open =
    (workflow.running && (wfState === undefined || !isFinished(wfState.status))) ||
    (row !== undefined && !isFinished(String(row.status))) ||
    (logState !== undefined && !isFinished(logState.status));
  const lagging = workflow.running && (wfState?.version ?? 0) < events.length;
  return { open, differences, lagging };
}

const isFinished = (status: string) => (terminalStatuses as readonly string[]).includes(status);
