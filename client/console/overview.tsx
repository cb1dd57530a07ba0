/**
 * HQ's overview: per office, what is open, overdue and escalated; per stage, the share of leads that met the SLA
 * over a chosen period; how long leads take from intake to interview and to a decision; escalations per week. Each
 * chart has its numbers beside it. Every figure comes from GET /reports/..., computed in PostgreSQL and scoped to
 * the offices the person may see.
 */
import { useState } from 'preact/hooks';
import { api, type DurationReport, type EscalationReport, type OfficeReport, type SlaReport } from './api';
import { BarChart } from './chart';
import { usePolled } from './live';
import { duration, stageWords } from './words';

const DAY = 86_400_000;
const PERIODS = [7, 30, 90, 365];

interface Reports {
  offices: OfficeReport;
  sla: SlaReport;
  durations: DurationReport;
  escalations: EscalationReport;
}

export function Overview(props: { onError: (error: unknown) => void }) {
  const [days, setDays] = useState(30);
  const load = async (): Promise<Reports> => {
    const to = new Date();
    const from = new Date(to.getTime() - days * DAY);
    const period = `from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}`;
    const [offices, sla, durations, escalations] = await Promise.all([
      api<OfficeReport>('/reports/offices'),
      api<SlaReport>(`/reports/sla?${period}`),
      api<DurationReport>(`/reports/durations?${period}`),
      api<EscalationReport>(`/reports/escalations?weeks=${Math.max(4, Math.min(52, Math.ceil(days / 7)))}`),
    ]);
    return { offices, sla, durations, escalations };
  };
  // Aggregates over weeks move slowly: every 15 s is live enough, and spares PostgreSQL four queries a poll.
  const reports = usePolled(load, `overview:${days}`, props.onError, 15_000);
  const r = reports.value;

  return (
    <>
      <h1>Overview</h1>
      <label class="period">
        Period{' '}
        <select value={days} onChange={(e) => setDays(Number(e.currentTarget.value))}>
          {PERIODS.map((d) => (
            <option key={d} value={d}>
              last {d} days
            </option>
          ))}
        </select>
      </label>
      {r === null ? (
        <p role={reports.error !== null ? 'alert' : undefined}>{reports.error ?? 'Loading…'}</p>
      ) : (
        <>
          <section aria-labelledby="offices-title" class="report">
            <h2 id="offices-title">Offices now</h2>
            <div class="report-body">
              <BarChart
                testId="chart-offices"
                labels={r.offices.offices.map((o) => o.office)}
                stacked
                series={[
                  { label: 'Open, on time', values: r.offices.offices.map((o) => o.open - o.overdue) },
                  { label: 'Overdue', values: r.offices.offices.map((o) => o.overdue) },
                ]}
                summary={r.offices.offices.map((o) => `${o.office}: ${o.open} open, ${o.overdue} overdue`).join('; ')}
              />
              <table data-testid="table-offices">
                <caption>Open leads per office</caption>
                <thead>
                  <tr>
                    <th scope="col">Office</th>
                    <th scope="col">Open</th>
                    <th scope="col">Overdue</th>
                    <th scope="col">Level 1</th>
                    <th scope="col">Level 2</th>
                    <th scope="col">Level 3</th>
                  </tr>
                </thead>
                <tbody>
                  {r.offices.offices.map((o) => (
                    <tr key={o.office}>
                      <th scope="row" title={o.name}>
                        {o.office}
                      </th>
                      <td>{o.open}</td>
                      <td>{o.overdue}</td>
                      <td>{o.escalated.level1}</td>
                      <td>{o.escalated.level2}</td>
                      <td>{o.escalated.level3}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </section>

          <section aria-labelledby="sla-title" class="report">
            <h2 id="sla-title">Stages that met the SLA, last {days} days</h2>
            <div class="report-body">
              <BarChart
                testId="chart-sla"
                horizontal
                max={100}
                labels={r.sla.stages.map((s) => stageWords[s.stage] ?? s.stage)}
                series={[
                  { label: 'Met the SLA (%)', values: r.sla.stages.map((s) => Math.round((s.share ?? 0) * 100)) },
                ]}
                summary={r.sla.stages
                  .map((s) => `${stageWords[s.stage] ?? s.stage}: ${percent(s.share)} of ${s.finished}`)
                  .join('; ')}
              />
              <table data-testid="table-sla">
                <caption>Stages finished in the period, and how many within their time</caption>
                <thead>
                  <tr>
                    <th scope="col">Stage</th>
                    <th scope="col">Finished</th>
                    <th scope="col">In time</th>
                    <th scope="col">Share</th>
                  </tr>
                </thead>
                <tbody>
                  {r.sla.stages.map((s) => (
                    <tr key={s.stage}>
                      <th scope="row">{stageWords[s.stage] ?? s.stage}</th>
                      <td>{s.finished}</td>
                      <td>{s.metSla}</td>
                      <td>{percent(s.share)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </section>

          {(
            [
              ['intakeToInterview', 'From intake to the interview'],
              ['intakeToDecision', 'From intake to a decision (case opened or lead closed)'],
            ] as const
          ).map(([key, title]) => {
            const dist = r.durations[key];
            return (
              <section aria-labelledby={`${key}-title`} class="report" key={key}>
                <h2 id={`${key}-title`}>
                  {title}, last {days} days
                </h2>
                <p>
                  {dist.count} lead{dist.count === 1 ? '' : 's'}; median{' '}
                  {dist.p50Ms === null ? '—' : duration(dist.p50Ms)}, 90th percentile{' '}
                  {dist.p90Ms === null ? '—' : duration(dist.p90Ms)}
                </p>
                <div class="report-body">
                  <BarChart
                    testId={`chart-${key}`}
                    labels={dist.buckets.map((b) => b.label)}
                    series={[{ label: 'Leads', values: dist.buckets.map((b) => b.count) }]}
                    summary={dist.buckets.map((b) => `${b.label}: ${b.count}`).join('; ')}
                  />
                  <table>
                    <caption>Leads per time taken</caption>
                    <thead>
                      <tr>
                        <th scope="col">Time taken</th>
                        <th scope="col">Leads</th>
                      </tr>
                    </thead>
                    <tbody>
                      {dist.buckets.map((b) => (
                        <tr key={b.label}>
                          <th scope="row">{b.label}</th>
                          <td>{b.count}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              </section>
            );
          })}

          <section aria-labelledby="escalations-title" class="report">
            <h2 id="escalations-title">Escalations per week</h2>
            <div class="report-body">
              <BarChart
                testId="chart-escalations"
                stacked
                labels={r.escalations.weeks.map((w) => w.weekStart)}
                series={[
                  { label: 'Level 1', values: r.escalations.weeks.map((w) => w.level1) },
                  { label: 'Level 2', values: r.escalations.weeks.map((w) => w.level2) },
                  { label: 'Level 3', values: r.escalations.weeks.map((w) => w.level3) },
                ]}
                summary={r.escalations.weeks
                  .map((w) => `week of ${w.weekStart}: ${w.level1 + w.level2 + w.level3}`)
                  .join('; ')}
              />
              <table data-testid="table-escalations">
                <caption>Escalations per week (weeks start on Monday, UTC)</caption>
                <thead>
                  <tr>
                    <th scope="col">Week of</th>
                    <th scope="col">Level 1</th>
                    <th scope="col">Level 2</th>
                    <th scope="col">Level 3</th>
                  </tr>
                </thead>
                <tbody>
                  {r.escalations.weeks.map((w) => (
                    <tr key={w.weekStart}>
                      <th scope="row">{w.weekStart}</th>
                      <td>{w.level1}</td>
                      <td>{w.level2}</td>
                      <td>{w.level3}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </section>
        </>
      )}
    </>
  );
}

const percent = (share: number | null) => (share === null ? '—' : `${Math.round(share * 100)} %`);
