/** A row of the summary table: a figure, its value, its target and whether the target was met. */
export interface TargetRow {
  figure: string;
  value: number;
  unit: string;
  /** Undefined for figures reported without a target. */
  target?: { op: '<=' | '>=' | '='; value: number };
  met?: boolean;
  /** The figure's phase was left out (--only): no value, no verdict. */
  notRun?: boolean;
}

/** The same row for a figure whose phase did not run. */
export function notRun(r: TargetRow): TargetRow {
  return { figure: r.figure, value: Number.NaN, unit: r.unit, ...(r.target ? { target: r.target } : {}), notRun: true };
}

export function row(figure: string, value: number, unit: string, target?: TargetRow['target']): TargetRow {
  const met =
    target === undefined || !Number.isFinite(value)
      ? target === undefined
        ? undefined
        : false
      : target.op === '<='
        ? value <= target.value
        : target.op === '>='
          ? value >= target.value
          : value === target.value;
  return { figure, value, unit, ...(target ? { target } : {}), ...(met === undefined ? {} : { met }) };
}

const fmt = (value: number, unit: string) =>
  Number.isFinite(value) ? `${value}${unit === '' ? '' : ` ${unit}`}` : 'not measured';

export function markdownTable(rows: TargetRow[]): string {
  const lines = ['| figure | value | target | met? |', '|---|---:|---:|:---:|'];
  for (const r of rows) {
    const target =
      r.target === undefined ? '—' : `${r.target.op === '=' ? '' : `${r.target.op} `}${fmt(r.target.value, r.unit)}`;
    const met = r.notRun ? '' : r.met === undefined ? '' : r.met ? 'yes' : '**NO**';
    lines.push(`| ${r.figure} | ${r.notRun ? 'not run' : fmt(r.value, r.unit)} | ${target} | ${met} |`);
  }
  return lines.join('\n');
}

export function missed(rows: TargetRow[]): string[] {
  return rows
    .filter((r) => r.met === false && r.notRun !== true)
    .map(
      (r) =>
        `MISSED: ${r.figure} is ${fmt(r.value, r.unit)}; the target is ${r.target?.op} ${fmt(r.target?.value ?? NaN, r.unit)}.`,
    );
}
