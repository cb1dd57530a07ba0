import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { Command, CommanderError, Option } from 'commander';
import type { ExternalCommandType } from '../schemas/commands';
import { InterviewOutcome, Priority, closeReasons, leadStatuses } from '../schemas/lead';
import { safetyAnswers, stabilisationCategories } from '../schemas/vocabulary';
import {
  DEFAULT_AUDIENCE,
  DEFAULT_ISSUER,
  credentialsPath,
  forgetCredentials,
  saveCredentials,
  signIn,
  storedToken,
  type SignInOptions,
} from './cli-sign-in';
import { addAdminCommands } from '../admin/commands';

export interface CliIo {
  /** Standard output; each call is a chunk written as is. */
  out: (s: string) => void;
  /** Standard error. */
  err: (s: string) => void;
  fetch?: typeof fetch;
  /** Connection settings of `verify` and `rebuild` (as `npm start` reads them); defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

const DEFAULT_API_URL = 'http://127.0.0.1:3000';

/** A problem document from the API, or one the CLI made up for a failure of its own. */
class Problem extends Error {
  constructor(
    readonly title: string,
    readonly detail: string,
    readonly issues: { path: string; message: string }[] = [],
  ) {
    super(`${title}: ${detail}`);
  }
}

/**
 * The CLI is a shell over the HTTP API. Only the operators' `verify` and `rebuild` connect to Temporal and
 * PostgreSQL themselves, as `npm run leads:verify` and `leads:rebuild` do.
 */
class ApiClient {
  constructor(
    private readonly baseUrl: string,
    private readonly token: () => string | undefined,
    private readonly fetchImpl: typeof fetch,
  ) {}

  async get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  async post<T>(path: string, body: unknown, headers: Record<string, string> = {}): Promise<T> {
    return this.request<T>('POST', path, body, headers);
  }

  private async request<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const url = `${this.baseUrl.replace(/\/+$/, '')}${path}`;
    let token: string | undefined;
    try {
      token = this.token();
    } catch (error) {
      throw new Problem('Signed out', (error as Error).message);
    }
    let response: Response;
    try {
      response = await this.fetchImpl(url, {
        method,
        headers: {
          accept: 'application/json, application/problem+json',
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new Problem(
        'API unreachable',
        `cannot reach ${this.baseUrl}: ${cause?.code ?? cause?.message ?? (error as Error).message}`,
      );
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new Problem(
        'Unexpected response',
        `${method} ${path} answered ${response.status} with a body that is not JSON`,
      );
    }
    if (!response.ok) {
      const problem = (parsed ?? {}) as { title?: unknown; detail?: unknown; issues?: unknown };
      throw new Problem(
        typeof problem.title === 'string' ? problem.title : `HTTP ${response.status}`,
        typeof problem.detail === 'string' ? problem.detail : `${method} ${path} failed`,
        Array.isArray(problem.issues) ? (problem.issues as { path: string; message: string }[]) : [],
      );
    }
    return parsed as T;
  }
}

/* Shapes of the API's answers the CLI prints; the API's OpenAPI document is the full contract. */
interface LeadSummary {
  leadId: string;
  status: string;
  priority: string;
  source: string;
  office: string | null;
  agent: string | null;
  stageDeadline: string | null;
  escalationLevel: number;
  slaPaused: boolean;
  overdue: boolean;
  receivedAt: string;
}
interface LeadState {
  status: string;
  priority: string;
  source: string;
  kind: string;
  jurisdiction: string;
  receivedAt: string;
  updatedAt: string;
  office: string | null;
  agent: string | null;
  interview: {
    scheduledFor: string;
    interpreterLanguage: string | null;
    victimSpecialist: boolean;
    outcome: string | null;
  } | null;
  caseNumber: string | null;
  closedReason: string | null;
  duplicateOf: string | null;
  noteCount: number;
  sla: { stage: string | null; level: number; paused: boolean };
  version: number;
}
interface LeadView {
  leadId: string;
  state: LeadState;
  stageDeadline: string | null;
  allowedCommands: string[];
}
interface LeadSnapshot {
  state: LeadState & { leadId: string };
  stageDeadline: string | null;
  allowedCommands: string[];
}
interface TimelineEntry {
  seq: number;
  type: string;
  at: string;
  actor: string;
  detail: Record<string, unknown>;
}

/** One subcommand per command a person sends; `ValidateLead` is left out because the workflow validates on its own. */
interface CommandSpec {
  name: string;
  type: ExternalCommandType;
  description: string;
  options: Option[];
  data: (opts: Record<string, unknown>) => Record<string, unknown>;
}

const required = (flags: string, description: string) => new Option(flags, description).makeOptionMandatory();
const optional = (flags: string, description: string) => new Option(flags, description);
/** Leaves out options the user did not give, so the API's own defaults apply. */
const defined = (data: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(data).filter(([, value]) => value !== undefined));

const commandSpecs: CommandSpec[] = [
  {
    name: 'assign',
    type: 'AssignLead',
    description: 'assign a validated lead to an office',
    options: [required('--office <office>', 'office id, e.g. HSI-NEWARK'), optional('--agent <agent>', 'agent id')],
    data: (o) => defined({ office: o.office, agent: o.agent }),
  },
  {
    name: 'reassign',
    type: 'ReassignLead',
    description: 'move a lead to another office or agent',
    options: [
      required('--office <office>', 'office id'),
      optional('--agent <agent>', 'agent id'),
      required('--reason <reason>', 'why'),
    ],
    data: (o) => defined({ office: o.office, agent: o.agent, reason: o.reason }),
  },
  {
    name: 'request-interview',
    type: 'RequestInterview',
    description: 'request an interview of the potential victim',
    options: [
      required('--at <time>', 'ISO 8601 time with offset, e.g. 2026-12-02T15:00:00Z'),
      required('--place <place>', 'where'),
      optional('--interpreter <language>', 'interpreter language, e.g. vi'),
      optional('--victim-specialist', 'a victim specialist attends'),
    ],
    data: (o) =>
      defined({
        scheduledFor: o.at,
        place: o.place,
        interpreterLanguage: o.interpreter,
        victimSpecialist: o.victimSpecialist === true,
      }),
  },
  {
    name: 'reschedule-interview',
    type: 'RescheduleInterview',
    description: 'move a requested interview',
    options: [
      required('--at <time>', 'new ISO 8601 time with offset'),
      optional('--place <place>', 'new place'),
      required('--reason <reason>', 'why'),
    ],
    data: (o) => defined({ scheduledFor: o.at, place: o.place, reason: o.reason }),
  },
  {
    name: 'complete-interview',
    type: 'CompleteInterview',
    description: "record the interview's outcome",
    options: [required('--outcome <outcome>', 'outcome').choices(InterviewOutcome.options)],
    data: (o) => ({ outcome: o.outcome }),
  },
  {
    name: 'open-case',
    type: 'OpenCase',
    description: 'open a case (finishes the lead)',
    options: [required('--case-number <number>', 'case number, e.g. HSI-NWK-2026-0001')],
    data: (o) => ({ caseNumber: o.caseNumber }),
  },
  {
    name: 'close',
    type: 'CloseLead',
    description: 'close the lead (finishes it)',
    options: [required('--reason <reason>', 'reason').choices(closeReasons), optional('--note <note>', 'note')],
    data: (o) => defined({ reason: o.reason, note: o.note }),
  },
  {
    name: 'pause-sla',
    type: 'PauseSla',
    description: "pause the stage's SLA clock",
    options: [required('--justification <text>', 'why, e.g. victim stabilisation')],
    data: (o) => ({ justification: o.justification }),
  },
  {
    name: 'resume-sla',
    type: 'ResumeSla',
    description: "restart the stage's SLA clock",
    options: [],
    data: () => ({}),
  },
  {
    name: 'acknowledge',
    type: 'AcknowledgeEscalation',
    description: 'acknowledge an escalation',
    options: [optional('--note <note>', 'note')],
    data: (o) => defined({ note: o.note }),
  },
  {
    name: 'change-priority',
    type: 'ChangePriority',
    description: 'raise or lower the priority',
    options: [
      required('--priority <priority>', 'priority').choices(Priority.options),
      required('--reason <reason>', 'why'),
    ],
    data: (o) => ({ priority: o.priority, reason: o.reason }),
  },
  {
    name: 'acknowledge-partner',
    type: 'AcknowledgePartner',
    description: 'tell the referring partner the lead is taken up (routing by the rules does it on its own)',
    options: [],
    data: () => ({}),
  },
  {
    name: 'add-note',
    type: 'AddNote',
    description: 'add a note',
    options: [required('--text <text>', 'the note')],
    data: (o) => ({ text: o.text }),
  },
  {
    name: 'record-safety',
    type: 'RecordSafety',
    description: "record what is known of the victim's safety and consent to contact (personal data)",
    options: [
      optional('--safe-to-contact <answer>', 'may the victim be contacted safely').choices(safetyAnswers),
      optional('--consent <answer>', 'has the victim consented to contact').choices(safetyAnswers),
      optional('--contact-through <whom>', 'through whom to make contact, e.g. "NGO caseworker"'),
      optional('--language <language>', "the victim's preferred language"),
      optional('--interpreter-needed <yes|no>', 'whether an interpreter is needed').choices(['yes', 'no']),
      optional('--minor <yes|no>', 'whether the victim is a minor').choices(['yes', 'no']),
      optional('--danger <yes|no>', 'whether the victim is in immediate danger (yes makes the lead urgent)').choices([
        'yes',
        'no',
      ]),
    ],
    data: (o) =>
      defined({
        safeToContact: o.safeToContact,
        consentToContact: o.consent,
        contactThrough: o.contactThrough,
        preferredLanguage: o.language,
        needsInterpreter: yesNo(o.interpreterNeeded),
        minor: yesNo(o.minor),
        immediateDanger: yesNo(o.danger),
      }),
  },
  {
    name: 'pause-for-stabilisation',
    type: 'PauseForStabilisation',
    description: 'pause the SLA clock for victim care until an expected end (supervisors, SACs, HQ)',
    options: [
      required('--category <category>', 'the care').choices(stabilisationCategories),
      required('--until <time>', 'expected end, ISO 8601 with offset'),
      optional('--justification <text>', 'why'),
    ],
    data: (o) => defined({ category: o.category, expectedEnd: o.until, justification: o.justification }),
  },
];

const yesNo = (value: unknown) => (value === undefined ? undefined : value === 'yes');

/** Runs the CLI in-process; resolves with the exit code instead of exiting. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof Problem) {
      io.err(`error: ${error.title}: ${error.detail}\n`);
      for (const issue of error.issues) io.err(`  ${issue.path}: ${issue.message}\n`);
      return 1;
    }
    io.err(`error: ${(error as Error).message ?? String(error)}\n`);
    return 1;
  }
}

function buildProgram(io: CliIo): Command {
  const program = new Command('leadline')
    .description('Leadline: submit, inspect and move leads through the Leadline HTTP API')
    .option(
      '--api <url>',
      'base URL of the Leadline API (env LEADLINE_API_URL)',
      process.env.LEADLINE_API_URL || DEFAULT_API_URL,
    )
    .option(
      '--token <token>',
      'an access token to send instead of the one `leadline login` stored (env LEADLINE_TOKEN)',
      process.env.LEADLINE_TOKEN,
    )
    .option(
      '--actor <actor>',
      'who runs verify, rebuild or recover, for the audit log (env LEADLINE_ACTOR); API calls act as the signed-in user',
      process.env.LEADLINE_ACTOR || `cli:${osUser()}`,
    )
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError('(add --help for usage)');

  const env = () => io.env ?? process.env;
  const api = () => {
    const opts = program.opts<{ api: string; token?: string }>();
    const token = () => opts.token ?? storedToken(credentialsPath(env()));
    return new ApiClient(opts.api, token, io.fetch ?? globalThis.fetch);
  };
  const signInOptions = (sub: Command) =>
    sub
      .option('--as <user>', 'a person (the development users: hq, admin, auditor, hsi-newark.supervisor, ...)')
      .option('--client <id>', 'a service account, signed in with client credentials (e.g. intake)')
      .option('--password <password>', "the person's password (the development provider's is known to the CLI)")
      .option('--secret <secret>', "the service account's secret (likewise)")
      .option(
        '--issuer <url>',
        'the OpenID provider (env LEADLINE_OIDC_ISSUER)',
        process.env.LEADLINE_OIDC_ISSUER || DEFAULT_ISSUER,
      )
      .option(
        '--audience <aud>',
        'the API the token is for (env LEADLINE_OIDC_AUDIENCE)',
        process.env.LEADLINE_OIDC_AUDIENCE || DEFAULT_AUDIENCE,
      );

  signInOptions(program.command('login'))
    .description('sign in and keep the token for the commands that follow (in ~/.config/leadline, owner-only)')
    .action(async (opts: SignInOptions) => {
      const credentials = await signIn(opts);
      saveCredentials(credentialsPath(env()), credentials);
      io.out(`signed in as ${credentials.subject} until ${new Date(credentials.expiresAt).toISOString()}\n`);
    });
  signInOptions(program.command('token'))
    .description('print an access token, e.g. for curl -H "Authorization: Bearer $(npx leadline token --as hq)"')
    .action(async (opts: SignInOptions) => {
      io.out(`${(await signIn(opts)).accessToken}\n`);
    });
  program
    .command('logout')
    .description('forget the stored token')
    .action(() => {
      forgetCredentials(credentialsPath(env()));
      io.out('signed out\n');
    });
  const json = (value: unknown) => io.out(`${JSON.stringify(value, null, 2)}\n`);

  program
    .command('submit')
    .description('submit a lead from a JSON intake file (- reads standard input); prints the lead id')
    .argument('<file>', 'intake JSON file')
    .option('--idempotency-key <key>', 'resubmitting with the same key returns the same lead')
    .option('--async', 'answer once the lead is durably queued, before its intake is recorded (Prefer: respond-async)')
    .option('--json', 'print the whole receipt as JSON')
    .action(async (file: string, opts: { idempotencyKey?: string; async?: boolean; json?: boolean }) => {
      const intake = await readIntake(file);
      const headers: Record<string, string> = {
        ...(opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {}),
        ...(opts.async ? { prefer: 'respond-async' } : {}),
      };
      const receipt = await api().post<{ leadId: string }>('/leads', intake, headers);
      if (opts.json) json(receipt);
      else io.out(`${receipt.leadId}\n`);
    });

  program
    .command('intake')
    .description(
      "a lead's intake: personal data, for the roles that work the lead; the read is audited with its purpose",
    )
    .argument('<leadId>', 'lead id')
    .requiredOption('--purpose <why>', 'why you read it, for the audit log (e.g. "preparing the interview")')
    .action(async (leadId: string, opts: { purpose: string }) => {
      const query = new URLSearchParams({ purpose: opts.purpose });
      const answer = await api().get<{ intake: unknown }>(
        `/leads/${encodeURIComponent(leadId)}/intake?${query.toString()}`,
      );
      json(answer.intake);
    });

  program
    .command('show')
    .description("a lead's state and its timeline (no personal data)")
    .argument('<leadId>', 'lead id')
    .option('--json', 'print { lead, events } as JSON')
    .action(async (leadId: string, opts: { json?: boolean }) => {
      const client = api();
      const id = encodeURIComponent(leadId);
      const [lead, timeline] = await Promise.all([
        client.get<LeadView>(`/leads/${id}`),
        client.get<{ events: TimelineEntry[] }>(`/leads/${id}/events`),
      ]);
      if (opts.json) json({ lead, events: timeline.events });
      else io.out(formatLead(lead, timeline.events));
    });

  program
    .command('list')
    .description('list leads: overdue first, then the most escalated, then the nearest deadline')
    .addOption(new Option('--status <status>', 'only this status').choices(leadStatuses))
    .option('--office <office>', 'only this office')
    .addOption(new Option('--priority <priority>', 'only this priority').choices(Priority.options))
    .option('--escalated', 'only escalated leads')
    .option('--overdue', 'only overdue leads')
    .option('--limit <n>', 'at most n leads (1-500)')
    .option('--cursor <cursor>', 'the next page, as a previous list printed it')
    .option('--json', 'print the API answer as JSON')
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const query = new URLSearchParams();
      for (const key of ['status', 'office', 'priority', 'limit', 'cursor'] as const) {
        const value = opts[key];
        if (typeof value === 'string') query.set(key, value);
      }
      if (opts.escalated) query.set('escalated', 'true');
      if (opts.overdue) query.set('overdue', 'true');
      const search = query.size > 0 ? `?${query.toString()}` : '';
      const page = await api().get<{ items: LeadSummary[]; nextCursor: string | null }>(`/leads${search}`);
      if (opts.json) json(page);
      else io.out(formatList(page.items, page.nextCursor));
    });

  for (const spec of commandSpecs) {
    const sub = program.command(spec.name).description(spec.description).argument('<leadId>', 'lead id');
    for (const option of spec.options) sub.addOption(option);
    sub
      .option('--command-id <id>', 'idempotency key: a retry with the same id is recorded once')
      .option('--json', 'print the lead as JSON')
      .action(async (leadId: string, opts: Record<string, unknown>) => {
        const body = defined({ data: spec.data(opts), commandId: opts.commandId });
        const snapshot = await api().post<LeadSnapshot>(
          `/leads/${encodeURIComponent(leadId)}/commands/${spec.type}`,
          body,
        );
        if (opts.json) json(snapshot);
        else io.out(formatSnapshot(leadId, snapshot));
      });
  }

  addAdminCommands(program, io);

  return program;
}

function osUser(): string {
  if (process.env.USER) return process.env.USER;
  try {
    return userInfo().username;
  } catch {
    // No passwd entry (a bare container): the actor still has to be something.
    return 'unknown';
  }
}

async function readIntake(file: string): Promise<unknown> {
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (error) {
    throw new Problem('Cannot read file', `${file}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text around the fault, and the text is a victim's intake.
    throw new Problem('Invalid file', `${file} is not valid JSON`);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const dash = (value: string | number | null | undefined) =>
  value === null || value === undefined ? '-' : String(value);

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].map((l) => `${l}\n`).join('');
}

function formatList(items: LeadSummary[], nextCursor: string | null): string {
  if (items.length === 0) return 'no leads\n';
  const rows = items.map((l) => [
    l.leadId,
    l.status,
    l.priority,
    dash(l.office),
    dash(l.agent),
    dash(l.stageDeadline),
    String(l.escalationLevel),
    [l.overdue ? 'OVERDUE' : '', l.slaPaused ? 'paused' : ''].filter(Boolean).join(',') || '-',
  ]);
  const text = table(['LEAD', 'STATUS', 'PRIORITY', 'OFFICE', 'AGENT', 'DEADLINE', 'ESC', 'FLAGS'], rows);
  return nextCursor === null ? text : `${text}more: leadline list --cursor ${nextCursor}\n`;
}

function formatLead(lead: LeadView, events: TimelineEntry[]): string {
  const s = lead.state;
  const interview =
    s.interview === null
      ? '-'
      : `${s.interview.scheduledFor}${s.interview.interpreterLanguage ? `, interpreter ${s.interview.interpreterLanguage}` : ''}` +
        `${s.interview.victimSpecialist ? ', victim specialist' : ''}${s.interview.outcome ? `, outcome ${s.interview.outcome}` : ''}`;
  const fields: [string, string][] = [
    ['lead', lead.leadId],
    ['status', s.status],
    ['priority', s.priority],
    ['source', `${s.source} (${s.kind})`],
    ['jurisdiction', s.jurisdiction],
    ['office', dash(s.office)],
    ['agent', dash(s.agent)],
    ['received', s.receivedAt],
    ['updated', s.updatedAt],
    ['stage', dash(s.sla.stage)],
    ['deadline', dash(lead.stageDeadline)],
    ['escalation', `level ${s.sla.level}${s.sla.paused ? ' (SLA paused)' : ''}`],
    ['interview', interview],
    ['case', dash(s.caseNumber)],
    ['closed', dash(s.closedReason)],
    ['duplicate of', dash(s.duplicateOf)],
    ['notes', String(s.noteCount)],
    ['allowed', lead.allowedCommands.length > 0 ? lead.allowedCommands.join(', ') : '-'],
  ];
  const width = Math.max(...fields.map(([k]) => k.length));
  const head = fields.map(([k, v]) => `${k.padEnd(width)}  ${v}\n`).join('');
  const rows = events.map((e) => [String(e.seq), e.at, e.type, e.actor, formatDetail(e.detail)]);
  return `${head}\ntimeline\n${table(['SEQ', 'AT', 'EVENT', 'ACTOR', 'DETAIL'], rows)}`;
}

function formatDetail(detail: Record<string, unknown>): string {
  return Object.entries(detail)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}

function formatSnapshot(leadId: string, snapshot: LeadSnapshot): string {
  const s = snapshot.state;
  return (
    `${leadId}  ${s.status}  priority ${s.priority}  office ${dash(s.office)}  agent ${dash(s.agent)}\n` +
    `allowed: ${snapshot.allowedCommands.length > 0 ? snapshot.allowedCommands.join(', ') : '-'}\n`
  );
}
