import { partnerRungs, rungs, totals, type SimulationResult } from '../domain/sla-simulation';
import { slaStages } from '../schemas/lead';

/** What the chart shows: the simulation, and what it compared. */
export type ChartInput = SimulationResult & {
  inForceVersion: string;
  proposedVersion: string;
  office: string | null;
  since: string | null;
};

/*
 * The simulator's chart: grouped bars, written as SVG by hand. No charting library in the project draws without a
 * browser or a canvas (chart.js needs one), and bars with a scale, labels and a legend are a few rectangles.
 */

const series = [
  { key: 'recorded', label: 'recorded (the log)', colour: '#9e9e9e' },
  { key: 'inForce', label: 'policy in force, replayed', colour: '#1f77b4' },
  { key: 'proposed', label: 'proposed policy', colour: '#ff7f0e' },
] as const;

interface Group {
  label: string;
  values: [number, number, number];
}

const W = 900;
const PANEL_H = 260;
const LEFT = 60;
const BAR = 32;
const GAP = 16;

export function slaChartSvg(report: ChartInput): string {
  const t = { recorded: totals(report.recorded), inForce: totals(report.inForce), proposed: totals(report.proposed) };
  const rungGroups: Group[] = rungs.map((r) => ({
    label: r === 'warning' ? 'warning' : `level ${r.slice(-1)}`,
    values: [t.recorded.rungs[r], t.inForce.rungs[r], t.proposed.rungs[r]],
  }));
  const breachGroups: Group[] = slaStages.map((s) => ({
    label: s.replace('_', ' '),
    values: [t.recorded.breaches[s], t.inForce.breaches[s], t.proposed.breaches[s]],
  }));
  const partnerGroups: Group[] = [
    ...partnerRungs.map((r): Group => ({
      label: r === 'level1' ? 'level 1 (supervisor)' : 'level 2 (HQ)',
      values: [t.recorded.partnerRungs[r], t.inForce.partnerRungs[r], t.proposed.partnerRungs[r]],
    })),
    { label: 'late (leads)', values: [t.recorded.partnerLate, t.inForce.partnerLate, t.proposed.partnerLate] },
  ];
  const scope = report.office === null ? 'every office' : `office ${report.office}`;
  const title = `SLA policy simulation: ${report.inForceVersion} (in force) vs ${report.proposedVersion} (proposed)`;
  const subtitle = `${report.leads} leads, ${scope}, ${report.since === null ? 'whole log' : `received since ${report.since.slice(0, 10)}`}, as of ${report.asOf.slice(0, 16)}Z`;
  const height = 100 + 3 * (PANEL_H + 40) - 20;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${LEFT}" y="28" font-size="16" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="${LEFT}" y="48" fill="#444">${escapeXml(subtitle)}</text>`,
    legend(LEFT, 70),
    panel('rungs raised', rungGroups, 100),
    panel("leads past a stage's budget", breachGroups, 100 + PANEL_H + 40),
    panel(
      'partner acknowledgements: rungs raised, and leads acknowledged late',
      partnerGroups,
      100 + 2 * (PANEL_H + 40),
    ),
    '</svg>',
  ];
  return `${parts.join('\n')}\n`;
}

function legend(x: number, y: number): string {
  return series
    .map((s, i) => {
      const at = x + i * 230;
      return `<rect x="${at}" y="${y - 10}" width="12" height="12" fill="${s.colour}"/><text x="${at + 18}" y="${y}">${escapeXml(s.label)}</text>`;
    })
    .join('');
}

function panel(title: string, groups: Group[], top: number): string {
  const plotTop = top + 24;
  const plotH = PANEL_H - 60;
  const bottom = plotTop + plotH;
  const max = Math.max(1, ...groups.flatMap((g) => g.values));
  const step = niceStep(max);
  const ceiling = Math.ceil(max / step) * step;
  const y = (v: number) => bottom - (v / ceiling) * plotH;
  const out = [`<text x="${LEFT}" y="${top + 10}" font-size="14" font-weight="bold">${escapeXml(title)}</text>`];
  for (let v = 0; v <= ceiling; v += step) {
    out.push(
      `<line x1="${LEFT}" x2="${W - 20}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${LEFT - 6}" y="${y(v) + 4}" text-anchor="end" fill="#444">${v}</text>`,
    );
  }
  const groupW = series.length * BAR + GAP;
  const span = (W - 20 - LEFT - (groups.length * (groupW + 30) - 30)) / 2;
  groups.forEach((g, gi) => {
    const x0 = LEFT + Math.max(10, span) + gi * (groupW + 30);
    g.values.forEach((v, si) => {
      const x = x0 + si * BAR;
      const s = series[si];
      if (s === undefined) return;
      out.push(
        `<rect x="${x}" y="${y(v)}" width="${BAR - 2}" height="${bottom - y(v)}" fill="${s.colour}"><title>${escapeXml(`${g.label}, ${s.label}: ${v}`)}</title></rect>`,
        `<text x="${x + (BAR - 2) / 2}" y="${y(v) - 4}" text-anchor="middle" font-size="10">${v}</text>`,
      );
    });
    out.push(
      `<text x="${x0 + (series.length * BAR) / 2}" y="${bottom + 18}" text-anchor="middle">${escapeXml(g.label)}</text>`,
    );
  });
  out.push(`<line x1="${LEFT}" x2="${W - 20}" y1="${bottom}" y2="${bottom}" stroke="#444"/>`);
  return out.join('\n');
}

function niceStep(max: number): number {
  const raw = max / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  return Math.max(1, step);
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
