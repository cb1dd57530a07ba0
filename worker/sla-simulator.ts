import { writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { UNASSIGNED, partnerRungs, rungs, totals, type SlaTally } from '../domain/sla-simulation';
import { OfficeId, type SlaStage, slaStages } from '../schemas/lead';
import { Duration, type SlaPolicy } from '../schemas/sla-policy';
import { SimulationInputError, simulatePolicies, type SimulationReport } from '../activities/policy-simulation';
import { loadSlaPolicy, readEnv } from './config';
import { openDatabase, type AdminExitCode } from './leads-admin';
import { slaChartSvg } from './sla-chart';

export { SIMULATOR_FIELDS, type SimulationReport } from '../activities/policy-simulation';

/*
 * `leadline simulate`: the SLA policy simulator's I/O. It reads the clock's facts from `lead_events` in one read-only
 * transaction and replays them with the pure simulator (domain/sla-simulation.ts). It never asks for a sealed field:
 * the query names the plain ones it needs (times, budgets, priorities, offices, stages, levels, routing, the partner
 * clock's budget), and the pool it
 * reads through has no keyring bound, so nothing sealed could be opened even by mistake.
 */

export interface SimulateOptions {
  /** The proposed policy's file. */
  policy: string;
  /** The policy in force's file; unset: LEADLINE_SLA_POLICY, else the defaults (as the worker loads it). */
  inForce?: string;
  /** Only leads received within this window before the as-of instant, e.g. `90d`. */
  since?: string;
  office?: string;
  /** Replay up to this instant; unset: now, or the log's latest event when that is later. */
  asOf?: string;
  /** Where to draw the comparison (SVG). */
  chart?: string;
  json?: boolean;
}

export interface SimulateIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** `leadline simulate`. Exit codes: 0 done, 2 could not run (a bad policy or option, the database unreachable). */
export async function runSimulate(
  env: NodeJS.ProcessEnv,
  io: SimulateIo,
  options: SimulateOptions,
): Promise<AdminExitCode> {
  try {
    const cfg = readEnv(env);
    const inForce = policyFrom('the policy in force', options.inForce ?? cfg.LEADLINE_SLA_POLICY, cfg);
    const proposed = policyFrom(`--policy ${options.policy}`, options.policy, cfg);
    const office = officeOption(options.office);
    const window = options.since === undefined ? undefined : durationOption('--since', options.since);
    const asOfOption = options.asOf === undefined ? undefined : instantOption('--as-of', options.asOf);
    if (options.chart !== undefined && !options.chart.toLowerCase().endsWith('.svg')) {
      throw new Error(`--chart ${options.chart}: only SVG is drawn (name the file .svg); PNG is not supported`);
    }
    const db = await openDatabase(cfg, io.err, { keyring: false });
    try {
      const report = await simulatePolicies(db.pool, {
        inForce,
        proposed,
        ...(window === undefined ? {} : { windowMs: window }),
        ...(office === undefined ? {} : { office }),
        ...(asOfOption === undefined ? {} : { asOfMs: asOfOption }),
      }).catch((error: unknown) => {
        // The option as the person typed it, not as the shared code names it.
        if (error instanceof SimulationInputError && options.asOf !== undefined) {
          throw new Error(error.message.replace(/^asOf: \S+/, `--as-of: ${options.asOf}`));
        }
        throw error;
      });
      if (options.chart !== undefined) {
        await writeFile(options.chart, slaChartSvg(report));
      }
      io.out(options.json === true ? JSON.stringify(report, null, 2) : formatReport(report, options.chart));
      return 0;
    } finally {
      await db.close();
    }
  } catch (error) {
    io.err(`error: ${(error as Error).message ?? String(error)}`);
    return 2;
  }
}

function policyFrom(label: string, file: string | undefined, cfg: ReturnType<typeof readEnv>): SlaPolicy {
  try {
    // As the worker reads LEADLINE_SLA_POLICY, LEADLINE_SLA_TIME_SCALE on top, so both policies run on one clock.
    return loadSlaPolicy({ LEADLINE_SLA_POLICY: file, LEADLINE_SLA_TIME_SCALE: cfg.LEADLINE_SLA_TIME_SCALE });
  } catch (error) {
    throw new Error(`${label}: ${(error as Error).message}`);
  }
}

function officeOption(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value === 'unassigned' || value === UNASSIGNED) return UNASSIGNED;
  const parsed = OfficeId.safeParse(value);
  if (!parsed.success) {
    throw new Error(`--office: ${parsed.error.issues[0]?.message ?? 'not an office id'} (or "unassigned")`);
  }
  return parsed.data;
}

function durationOption(name: string, value: string): number {
  const parsed = Duration.safeParse(/^\d+$/.test(value) ? Number(value) : value);
  if (!parsed.success) throw new Error(`${name}: ${parsed.error.issues[0]?.message ?? 'not a duration'}`);
  return parsed.data;
}

function instantOption(name: string, value: string): number {
  const ms = Date.parse(value);
  if (!z.iso.datetime({ offset: true }).safeParse(value).success || Number.isNaN(ms)) {
    throw new Error(`${name}: expected an ISO 8601 instant such as 2026-12-01T00:00:00Z`);
  }
  return ms;
}

const rungLabel: Record<(typeof rungs)[number], string> = {
  warning: 'warning',
  level1: 'level 1',
  level2: 'level 2',
  level3: 'level 3',
};
const partnerRungLabel: Record<(typeof partnerRungs)[number], string> = {
  level1: 'level 1 (supervisor)',
  level2: 'level 2 (HQ)',
};
const ALL = 'all offices';

function officesOf(...tallies: SlaTally[]): string[] {
  const names = new Set<string>();
  for (const t of tallies)
    for (const name of [
      ...Object.keys(t.rungs),
      ...Object.keys(t.breaches),
      ...Object.keys(t.partnerRungs),
      ...Object.keys(t.partnerLate),
    ])
      names.add(name);
  return [...names].sort();
}

const signed = (n: number) => (n > 0 ? `+${n}` : String(n));

export function formatReport(report: SimulationReport, chart?: string): string {
  const lines: string[] = [];
  const scope = [
    `${report.leads} leads (${report.events} clock events)`,
    report.since === null ? 'the whole log' : `received since ${report.since}`,
    `as of ${report.asOf}`,
    report.office === null ? 'every office' : `office ${report.office}`,
  ];
  lines.push(`SLA policy simulation: ${scope.join(', ')}`);
  lines.push(`in force: ${report.inForceVersion}; proposed: ${report.proposedVersion}`);
  lines.push(
    report.changes.length === 0
      ? 'the proposed policy changes nothing that times the ladder'
      : `the proposed policy changes: ${report.changes.join('; ')}`,
  );
  lines.push('');

  const offices = officesOf(report.recorded, report.inForce, report.proposed);
  const zero = { warning: 0, level1: 0, level2: 0, level3: 0 };
  const rungRows: string[][] = [];
  const addRungRows = (office: string, get: (t: SlaTally) => Record<(typeof rungs)[number], number>) => {
    for (const r of rungs) {
      const [a, b, c] = [get(report.recorded)[r], get(report.inForce)[r], get(report.proposed)[r]];
      if (a === 0 && b === 0 && c === 0) continue;
      rungRows.push([office, rungLabel[r], String(a), String(b), String(c), signed(c - b)]);
    }
  };
  for (const office of offices) addRungRows(office, (t) => t.rungs[office] ?? zero);
  addRungRows(ALL, (t) => totals(t).rungs);
  lines.push('rungs raised');
  lines.push(table(['OFFICE', 'RUNG', 'RECORDED', 'IN FORCE', 'PROPOSED', 'CHANGE'], rungRows));

  const noBreach = { validation: 0, assignment: 0, interview_request: 0, interview: 0, disposition: 0 };
  const breachRows: string[][] = [];
  const addBreachRows = (office: string, get: (t: SlaTally) => Record<SlaStage, number>) => {
    for (const s of slaStages) {
      const [a, b, c] = [get(report.recorded)[s], get(report.inForce)[s], get(report.proposed)[s]];
      if (a === 0 && b === 0 && c === 0) continue;
      breachRows.push([office, s, String(a), String(b), String(c), signed(c - b)]);
    }
  };
  for (const office of offices) addBreachRows(office, (t) => t.breaches[office] ?? noBreach);
  addBreachRows(ALL, (t) => totals(t).breaches);
  lines.push("leads past a stage's budget");
  lines.push(table(['OFFICE', 'STAGE', 'RECORDED', 'IN FORCE', 'PROPOSED', 'CHANGE'], breachRows));

  const partnerRows: string[][] = [];
  const noPartner = { level1: 0, level2: 0 };
  const addPartnerRows = (
    office: string,
    get: (t: SlaTally) => Record<(typeof partnerRungs)[number], number>,
    late: (t: SlaTally) => number,
  ) => {
    for (const r of partnerRungs) {
      const [a, b, c] = [get(report.recorded)[r], get(report.inForce)[r], get(report.proposed)[r]];
      if (a === 0 && b === 0 && c === 0) continue;
      partnerRows.push([office, partnerRungLabel[r], String(a), String(b), String(c), signed(c - b)]);
    }
    const [a, b, c] = [late(report.recorded), late(report.inForce), late(report.proposed)];
    if (a !== 0 || b !== 0 || c !== 0)
      partnerRows.push([office, 'late (leads)', String(a), String(b), String(c), signed(c - b)]);
  };
  for (const office of offices) {
    addPartnerRows(
      office,
      (t) => t.partnerRungs[office] ?? noPartner,
      (t) => t.partnerLate[office] ?? 0,
    );
  }
  addPartnerRows(
    ALL,
    (t) => totals(t).partnerRungs,
    (t) => totals(t).partnerLate,
  );
  lines.push(
    `partner acknowledgements (${report.leadsWithPartnerClock} of ${report.leads} leads owe their partner one)`,
  );
  lines.push(table(['OFFICE', 'RUNG', 'RECORDED', 'IN FORCE', 'PROPOSED', 'CHANGE'], partnerRows));

  if (report.inForce.idleAcknowledgements + report.proposed.idleAcknowledgements > 0) {
    lines.push(
      `acknowledgements that held nothing (the replayed ladder was not escalated then): in force ${report.inForce.idleAcknowledgements}, proposed ${report.proposed.idleAcknowledgements}`,
    );
  }
  if (report.leadsOnOtherBudgets > 0) {
    lines.push(
      `${report.leadsOnOtherBudgets} leads recorded budgets other than the policy in force's (begun under another policy)`,
    );
  }
  if (report.selfCheck.length === 0) {
    lines.push(
      `self-check: the replay under the policy in force gives the recorded rungs for every lead (stage ladders and partner clock)`,
    );
  } else {
    lines.push(
      `self-check: ${report.selfCheck.length} differences between the record and the replay under the policy in force:`,
    );
    for (const d of report.selfCheck) {
      lines.push(
        `  lead ${d.leadId}  ${d.stage === 'partner' ? 'partner acknowledgement' : d.stage} ${rungLabel[d.rung]}  recorded ${d.recorded}  replayed ${d.inForce}  ${d.reason}`,
      );
    }
  }
  if (chart !== undefined) lines.push(`chart: ${chart}`);
  lines.push(
    `run time: ${report.runTimeMs.total} ms (read ${report.runTimeMs.read} ms, replay ${report.runTimeMs.replay} ms)`,
  );
  return lines.join('\n');
}

function table(header: string[], rows: string[][]): string {
  if (rows.length === 0) return '  none';
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
