/**
 * `GET /reports/...`: what HQ HSTU, SACs and supervisors see of how offices keep the SLA, computed in PostgreSQL from the
 * read model and the event log (activities/reports.ts). Counts and durations only: no lead id, nothing about a person.
 * Each is scoped like the lead list (the caller's offices; HQ and admins all) and audited (client/guarded-reports.ts).
 */
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import type { Caller } from '../../schemas/caller';
import {
  DurationsReport,
  EscalationsQuery,
  EscalationsReport,
  OfficesReport,
  OfficesReportQuery,
  ReportPeriodQuery,
  SimulationReportBody,
  SimulationRequest,
  SlaReport,
} from '../../schemas/reports';
import type { GuardedReports } from '../guarded-reports';
import { jsonResponse, problemResponse } from './responses';

export interface ReportRoutesOptions {
  reports: GuardedReports;
  callerOf(request: FastifyRequest): Caller;
}

const problems = {
  400: problemResponse(
    'A parameter is malformed or unknown, or `to` is before `from`; `issues` name each (`query.<name>`)',
  ),
  401: problemResponse('No valid bearer token; `WWW-Authenticate` says why'),
  403: problemResponse('The caller may not read reports; the detail names what its roles allow'),
  503: problemResponse('PostgreSQL cannot be reached'),
} as const;

const scoping =
  'Counts the leads of the offices the caller works in (supervisors, SACs), or of every office (HQ HSTU, admins); an ' +
  '`office` outside them counts nothing, as the lead list shows nothing of it. Offices are the leads’ offices now. ' +
  'Every read is recorded in the audit log.';

export function reportRoutes(options: ReportRoutesOptions): FastifyPluginCallbackZod {
  const { reports } = options;
  const callerOf = (request: FastifyRequest) => options.callerOf(request);
  return (app, _options, done) => {
    app.get(
      '/reports/offices',
      {
        schema: {
          tags: ['reports'],
          operationId: 'officesReport',
          summary: 'Per office: open leads, overdue, escalated by level, paused',
          description: `Live, from the read model: every office of the directory in the caller's scope, zeros included. ${scoping}`,
          querystring: OfficesReportQuery,
          response: {
            200: jsonResponse('Each office in scope, in the directory’s order', OfficesReport),
            400: problems[400],
            401: problems[401],
            403: problems[403],
            503: problems[503],
          },
        },
      },
      (request) => reports.offices(callerOf(request)),
    );

    app.get(
      '/reports/sla',
      {
        schema: {
          tags: ['reports'],
          operationId: 'slaReport',
          summary: 'Per stage: of the stages that ended in the period, how many by their deadline',
          description:
            'Stages in lifecycle order: validation (received → validated), assignment (→ assigned), ' +
            'interview_request (→ interview requested), interview (→ interview completed), disposition (→ case opened ' +
            'or closed). A stage ends when the lead leaves it, closed or rejected included (closing a late lead does ' +
            "not hide that it was late). It met the SLA when its clock's time, pauses excluded, stayed within the " +
            'budget its events recorded (the policy in force then, and a change of priority), as the escalation ladder ' +
            `counts it. The period is [from, to), by default the 30 days before now. ${scoping}`,
          querystring: ReportPeriodQuery,
          response: {
            200: jsonResponse('Each stage, in lifecycle order', SlaReport),
            400: problems[400],
            401: problems[401],
            403: problems[403],
            503: problems[503],
          },
        },
      },
      (request) => reports.sla(callerOf(request), request.query),
    );

    app.get(
      '/reports/durations',
      {
        schema: {
          tags: ['reports'],
          operationId: 'durationsReport',
          summary: 'Distributions of the time from intake to the interview and to the decision',
          description:
            'From the lead’s receipt to its completed interview (for interviews completed in the period), and to its ' +
            'decision: a case opened or the lead closed by a person (for decisions in the period; automatic ' +
            'rejections as invalid or duplicate are not decisions). Wall-clock time, pauses included. Buckets: ≤ 1, 2, ' +
            `3, 5, 7, 14 days and above. The period is [from, to), by default the 30 days before now. ${scoping}`,
          querystring: ReportPeriodQuery,
          response: {
            200: jsonResponse('Both distributions', DurationsReport),
            400: problems[400],
            401: problems[401],
            403: problems[403],
            503: problems[503],
          },
        },
      },
      (request) => reports.durations(callerOf(request), request.query),
    );

    app.get(
      '/reports/escalations',
      {
        schema: {
          tags: ['reports'],
          operationId: 'escalationsReport',
          summary: 'Escalations recorded per ISO week and level',
          description:
            'The last `weeks` ISO weeks (Monday to Sunday, UTC), the current one included, oldest first, every week ' +
            `present. Each escalation event counts once, at the level it reached. ${scoping}`,
          querystring: EscalationsQuery,
          response: {
            200: jsonResponse('One entry per week, oldest first', EscalationsReport),
            400: problems[400],
            401: problems[401],
            403: problems[403],
            503: problems[503],
          },
        },
      },
      (request) => reports.escalations(callerOf(request), request.query),
    );

    app.post(
      '/reports/simulations',
      {
        schema: {
          tags: ['reports'],
          operationId: 'simulatePolicy',
          summary: 'Replay the event log under a proposed SLA policy, beside the policy in force',
          description:
            'HQ HSTU and admins. The body is the proposed policy as `LEADLINE_SLA_POLICY` takes it (without ' +
            '`timeScale`, the clock in force), and optionally `since` (leads received that long ago, e.g. `90d`) and ' +
            '`office` (an office id or `unassigned`). The answer is what `leadline simulate --json` prints: per office ' +
            'and rung, the warnings and escalations the log recorded, the policy in force gives and the proposal would ' +
            'give, the leads past each stage’s budget, what the proposal changes, a self-check and the run time. It ' +
            'reads plain fields of the log in one read-only transaction and changes nothing. Audited.',
          body: SimulationRequest,
          response: {
            200: jsonResponse('The simulation', SimulationReportBody),
            400: problemResponse('The proposed policy or an option is not valid; `issues` name each field'),
            401: problems[401],
            403: problemResponse('Only HQ HSTU and admins simulate policies; the detail names what the roles allow'),
            503: problems[503],
          },
        },
      },
      (request) => reports.simulate(callerOf(request), request.body),
    );
    done();
  };
}
