import type { LeadIntakeInput } from '../../schemas/intake';
import { sampleIntakeInputs } from '../../test/support/lead-fixtures';
import type { Operation } from './history';

/*
 * A steady open-loop load over HTTP: submissions (sync and `Prefer: respond-async`, each with an Idempotency-Key)
 * and commands (each with a commandId) on leads already answered for, sent on schedule whatever the answers, a few
 * of them retries of earlier ones. Every operation and its answer (or none) goes to the history.
 */

export interface LoadOptions {
  apiUrl: string;
  /** `Authorization` for submissions (the intake service) and for commands (a person who may send them). */
  authorization: { submit: string; command: string };
  tag: string;
  submissionsPerSecond: number;
  commandsPerSecond: number;
  /** A request with no answer by then counts as unanswered (the API's own deadline is 15 s). */
  timeoutMs: number;
}

const fixtures = sampleIntakeInputs();
/** Routed at once (US-NJ, US-TX, US-FL): they climb the ladder of the interview-request stage. */
const routable = ['newark-interview-request', 'hhs-tipline-minor', 'ngo-farmworkers'].map((name) => fixtures[name]);
/** No office serves US-MT: it waits unassigned and climbs the assignment stage's ladder, every rung to HQ. */
const unrouted = fixtures['public-unknown-jurisdiction'];

export class Load {
  readonly operations: Operation[] = [];
  phase = 'warm-up';
  private timers: NodeJS.Timeout[] = [];
  private seq = 0;
  private submissions = 0;
  private commands = 0;
  private readonly intakes = new Map<string, LeadIntakeInput>();
  /** Leads answered 2xx and not closed by a command answered 200: what commands are sent to. */
  private readonly open: string[] = [];
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly options: LoadOptions) {}

  start(): void {
    this.pause(); // never two schedules at once
    if (this.options.submissionsPerSecond > 0) {
      this.timers.push(setInterval(() => this.submitNext(), 1000 / this.options.submissionsPerSecond));
    }
    if (this.options.commandsPerSecond > 0) {
      this.timers.push(setInterval(() => this.commandNext(), 1000 / this.options.commandsPerSecond));
    }
  }

  /** Stops sending; resolves once every request sent has its answer or timed out. */
  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    await Promise.all([...this.inFlight]);
  }

  /** Resolves once every request sent so far has its answer or timed out. */
  async drain(): Promise<void> {
    await Promise.all([...this.inFlight]);
  }

  pause(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
  }

  /** `n` submissions at once, half of them asynchronous: the intake burst a worker is killed in the middle of. */
  burst(n: number): void {
    for (let i = 0; i < n; i++) this.submitNew(i % 2 === 0 ? 'async' : 'sync');
  }

  openLeads(): readonly string[] {
    return this.open;
  }

  private track(work: Promise<void>) {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  private submitNext() {
    const n = this.submissions;
    // One in twenty sends an earlier key again with its intake: a client retrying after no answer.
    if (n % 20 === 19 && this.intakes.size > 0) {
      const keys = [...this.intakes.keys()];
      const key = keys[Math.floor(Math.random() * keys.length)] as string;
      this.submit(key, this.intakes.get(key) as LeadIntakeInput, n % 2 === 0 ? 'async' : 'sync', true);
      this.submissions++;
      return;
    }
    this.submitNew(n % 2 === 0 ? 'async' : 'sync');
  }

  private submitNew(mode: 'sync' | 'async') {
    const n = this.submissions++;
    const key = `faults-${this.options.tag}-${n}`;
    const base = (n % 4 === 3 ? unrouted : routable[n % routable.length]) as LeadIntakeInput;
    const intake: LeadIntakeInput = { ...base, externalReference: key };
    this.intakes.set(key, intake);
    this.submit(key, intake, mode, false);
  }

  private submit(key: string, intake: LeadIntakeInput, mode: 'sync' | 'async', retry: boolean) {
    const op: Operation = { id: this.seq++, kind: 'submit', mode, phase: this.phase, key, retry, sentAt: Date.now() };
    this.operations.push(op);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      authorization: this.options.authorization.submit,
      'idempotency-key': key,
    };
    if (mode === 'async') headers.prefer = 'respond-async';
    this.track(
      this.send(op, '/leads', headers, intake).then((body) => {
        const leadId = (body as { leadId?: unknown } | undefined)?.leadId;
        if (typeof leadId === 'string') op.answerLeadId = leadId;
        if (op.status !== undefined && op.status !== null && op.status >= 200 && op.status < 300 && op.answerLeadId) {
          if (!this.open.includes(op.answerLeadId)) this.open.push(op.answerLeadId);
        }
      }),
    );
  }

  private lastCommand: Operation | undefined;

  private commandNext() {
    if (this.open.length === 0) return;
    const n = this.commands++;
    // One in twenty resends the previous command with its commandId: a client retrying.
    const previous = this.lastCommand;
    if (n % 20 === 19 && previous?.leadId !== undefined && previous.commandType !== undefined) {
      this.command(previous.leadId, previous.commandType, previous.commandId as string, true);
      return;
    }
    const leadId = this.open[Math.floor(Math.random() * this.open.length)] as string;
    const roll = n % 10;
    const type = roll === 9 ? 'CloseLead' : roll === 4 ? 'RequestInterview' : 'AddNote';
    this.command(leadId, type, `faults-${this.options.tag}-c${n}`, false);
  }

  private command(leadId: string, type: string, commandId: string, retry: boolean) {
    const op: Operation = {
      id: this.seq++,
      kind: 'command',
      mode: 'sync',
      phase: this.phase,
      leadId,
      commandType: type,
      commandId,
      retry,
      sentAt: Date.now(),
    };
    this.operations.push(op);
    this.lastCommand = op;
    const data =
      type === 'CloseLead'
        ? { reason: 'no_trafficking_indicators' }
        : type === 'RequestInterview'
          ? {
              scheduledFor: new Date(Date.now() + 86_400_000).toISOString(),
              place: 'Field office',
              interpreterLanguage: 'vi',
              victimSpecialist: true,
            }
          : { text: `fault-suite note ${commandId}` };
    this.track(
      this.send(
        op,
        `/leads/${leadId}/commands/${type}`,
        { 'content-type': 'application/json', authorization: this.options.authorization.command },
        { data, commandId },
      ).then(() => {
        if (type === 'CloseLead' && op.status === 200) {
          const at = this.open.indexOf(leadId);
          if (at >= 0) this.open.splice(at, 1);
        }
      }),
    );
  }

  /** Sends one request and records its answer; resolves with the parsed body (2xx only). */
  private async send(op: Operation, path: string, headers: Record<string, string>, body: unknown): Promise<unknown> {
    try {
      const response = await fetch(`${this.options.apiUrl}${path}`, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      const text = await response.text();
      op.status = response.status;
      op.doneAt = Date.now();
      if (response.status >= 200 && response.status < 300) {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          return undefined;
        }
      }
      return undefined;
    } catch (error) {
      op.status = null;
      op.doneAt = Date.now();
      op.error = failureCode(error);
      return undefined;
    }
  }
}

/** A short, data-free name for why a request got no answer. */
export function failureCode(error: unknown): string {
  const e = error as { name?: string; code?: string; cause?: { code?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'timeout';
  return e.cause?.code ?? e.code ?? e.name ?? 'error';
}
