import { partnerRungs, rungs, totals, type SlaTally } from '../domain/sla-simulation';
import { slaStages, type SlaStage } from '../schemas/lead';
import type { SimulationReport } from '../activities/policy-simulation';

/* `leadline simulate`'s report for a person: the two policies' rungs and breaches side by side, per office. */

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
