/**
 * One lead: its state, the SLA ladder of the current stage drawn to scale, the timeline in words, the commands this
 * person may send now (as forms), and — for the roles that may read it, deliberately and with a stated purpose —
 * the intake.
 */
import { useState } from 'preact/hooks';
import { api, ApiError, type LeadView, type Me, type TimelinePage } from './api';
import { CommandForm } from './forms';
import { usePolled, useNow } from './live';
import type { OfficeNames } from './main';
import { actorWords, describeEvent, duration, elapsed, ladder, stageWords, statusWords, timeLeft } from './words';

const commandTitles: Record<string, string> = {
  AssignLead: 'Assign',
  ReassignLead: 'Reassign',
  RequestInterview: 'Request the interview',
  RescheduleInterview: 'Reschedule the interview',
  CompleteInterview: 'Record the interview',
  OpenCase: 'Open a case',
  CloseLead: 'Close the lead',
  PauseSla: 'Pause the clock',
  ResumeSla: 'Resume the clock',
  AcknowledgeEscalation: 'Acknowledge the escalation',
  ChangePriority: 'Change the priority',
  AddNote: 'Add a note',
  RecordSafety: 'Record safety and consent',
  PauseForStabilisation: 'Pause for victim care',
  AcknowledgePartner: 'Acknowledge the partner',
};

export function LeadPage(props: {
  leadId: string;
  me: Me;
  officeName: OfficeNames;
  offices: Map<string, string>;
  onError: (error: unknown) => void;
}) {
  const { leadId, me, officeName } = props;
  const view = usePolled(() => api<LeadView>(`/leads/${leadId}`), `lead:${leadId}`, props.onError);
  const events = usePolled(() => api<TimelinePage>(`/leads/${leadId}/events`), `events:${leadId}`, props.onError);
  const [command, setCommand] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const now = useNow();

  if (view.value === null) {
    const missing = view.error !== null;
    return (
      <>
        <h1>Lead {leadId.slice(0, 8)}</h1>
        <p role={missing ? 'alert' : undefined} class={missing ? 'error' : undefined}>
          {missing ? `This lead cannot be shown: ${view.error}` : 'Loading…'}
        </p>
        <p>
          <a href="#/">Back to the queue</a>
        </p>
      </>
    );
  }
  const { state } = view.value;
  const mayNow = view.value.allowedForYou ?? view.value.allowedCommands.filter((c) => me.may.commands.includes(c));
  const commands = mayNow.filter((c) => c in commandTitles);
  const officeChoices = props.offices.size > 0 ? [...props.offices.keys()] : me.offices;

  return (
    <>
      <p>
        <a href="#/">Back to the queue</a>
      </p>
      <h1>
        Lead <span class="mono">{leadId.slice(0, 8)}</span>
      </h1>
      <dl class="facts" data-testid="lead-facts">
        <div>
          <dt>Status</dt>
          <dd data-testid="lead-status">{statusWords[state.status] ?? state.status}</dd>
        </div>
        <div>
          <dt>Priority</dt>
          <dd>{state.priority}</dd>
        </div>
        <div>
          <dt>Office</dt>
          <dd>{state.office === null ? 'not yet routed' : officeName(state.office)}</dd>
        </div>
        <div>
          <dt>Agent</dt>
          <dd>{state.agent ?? 'unassigned'}</dd>
        </div>
        <div>
          <dt>Received</dt>
          <dd>
            {new Date(state.receivedAt).toLocaleString()} ({duration(now - Date.parse(state.receivedAt))} ago)
          </dd>
        </div>
        {state.caseNumber !== null && (
          <div>
            <dt>Case</dt>
            <dd>{state.caseNumber}</dd>
          </div>
        )}
        <div>
          <dt>Lead id</dt>
          <dd class="mono">{leadId}</dd>
        </div>
      </dl>

      <Ladder view={view.value} now={now} />

      <section aria-labelledby="actions-title">
        <h2 id="actions-title">What you can do now</h2>
        {done !== null && (
          <p role="status" class="ok">
            {done}
          </p>
        )}
        {commands.length === 0 ? (
          <p class="muted">Nothing: the lead's status or your role allows no command.</p>
        ) : (
          <div class="buttons">
            {commands.map((type) => (
              <button
                type="button"
                key={type}
                aria-expanded={command === type}
                aria-controls={`command-${type}`}
                onClick={() => {
                  setDone(null);
                  setCommand(command === type ? null : type);
                }}
              >
                {commandTitles[type]}
              </button>
            ))}
          </div>
        )}
        {command !== null && (
          <CommandForm
            key={command}
            leadId={leadId}
            type={command}
            title={commandTitles[command] ?? command}
            offices={officeChoices}
            officeName={officeName}
            onError={props.onError}
            onCancel={() => setCommand(null)}
            onDone={() => {
              setDone(`${commandTitles[command] ?? command}: recorded.`);
              setCommand(null);
              view.reload();
              events.reload();
            }}
          />
        )}
      </section>

      <section aria-labelledby="timeline-title">
        <h2 id="timeline-title">Timeline</h2>
        {events.value === null ? (
          <p>{events.error ?? 'Loading…'}</p>
        ) : (
          <ol class="timeline" data-testid="timeline">
            {events.value.events.map((event) => (
              <li key={event.seq}>
                <time dateTime={event.at}>{new Date(event.at).toLocaleString()}</time>{' '}
                <span>{describeEvent(event, state.receivedAt, officeName)}</span>{' '}
                <span class="muted">— {actorWords(event.actor)}</span>
              </li>
            ))}
          </ol>
        )}
      </section>

      {me.may.readIntake && <IntakePanel leadId={leadId} onError={props.onError} />}
    </>
  );
}

/** The current stage's ladder to scale: time used, the rungs (75 %, 100 %, 150 %, 200 %), a hold and a pause. */
function Ladder({ view, now }: { view: LeadView; now: number }) {
  const clock = view.state.sla;
  if (clock.stage === null) {
    return (
      <section aria-labelledby="ladder-title">
        <h2 id="ladder-title">SLA</h2>
        <p>No clock runs: the lead is finished.</p>
      </section>
    );
  }
  const rungs = ladder(clock, now);
  const used = elapsed(clock, now);
  const scale = clock.budgetMs * 2.2;
  const pct = (ms: number) => `${Math.min(100, (ms / scale) * 100).toFixed(2)}%`;
  const summary =
    `Stage ${stageWords[clock.stage] ?? clock.stage}: ${duration(used)} used of ${duration(clock.budgetMs)}` +
    (clock.level > 0 ? `, escalated to level ${clock.level}` : clock.warned ? ', warned' : '') +
    (clock.paused ? ', clock paused' : '');
  return (
    <section aria-labelledby="ladder-title">
      <h2 id="ladder-title">SLA: {stageWords[clock.stage] ?? clock.stage}</h2>
      <p data-testid="time-left">
        <strong>{timeLeft(view.stageDeadline, now, clock.paused)}</strong> — {duration(used)} used of a budget of{' '}
        {duration(clock.budgetMs)}
        {clock.paused && clock.pausedAt !== null && ` (paused since ${new Date(clock.pausedAt).toLocaleString()})`}
      </p>
      <div class="ladder" role="img" aria-label={summary}>
        <div class={`used${clock.paused ? ' paused' : ''}`} style={{ width: pct(used) }} />
        {rungs.map((rung) => (
          <div key={rung.rung} class={`rung${rung.passed ? ' passed' : ''}`} style={{ left: pct(rung.atMs) }} />
        ))}
      </div>
      <ul class="rungs">
        {rungs.map((rung) => (
          <li key={rung.rung} class={rung.passed ? 'passed' : undefined}>
            <strong>{rung.label}</strong>:{' '}
            {rung.passed
              ? 'reached'
              : rung.when === null
                ? 'waits while the clock is stopped'
                : `in ${duration(Date.parse(rung.when) - now)} (${new Date(rung.when).toLocaleString()})`}
          </li>
        ))}
        {clock.holdUntil !== null && Date.parse(clock.holdUntil) > now && (
          <li>
            <strong>Acknowledged</strong>: the ladder holds until {new Date(clock.holdUntil).toLocaleString()}
          </li>
        )}
      </ul>
    </section>
  );
}

/** The intake: opened on purpose, with the purpose stated for the audit log; held only while the panel is open. */
function IntakePanel({ leadId, onError }: { leadId: string; onError: (error: unknown) => void }) {
  const [purpose, setPurpose] = useState('');
  const [intake, setIntake] = useState<Record<string, unknown> | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  const open = async (event: Event) => {
    event.preventDefault();
    if (purpose.trim().length < 3) {
      setProblem('Say why you read the intake: the purpose is recorded in the audit log.');
      return;
    }
    try {
      const body = await api<{ intake: Record<string, unknown> }>(
        `/leads/${leadId}/intake?purpose=${encodeURIComponent(purpose.trim())}`,
      );
      setIntake(body.intake);
      setProblem(null);
    } catch (error) {
      onError(error);
      setProblem(error instanceof ApiError ? error.problem.detail : (error as Error).message);
    }
  };

  return (
    <section aria-labelledby="intake-title" class="intake">
      <h2 id="intake-title">Intake (personal data)</h2>
      {intake === null ? (
        <form onSubmit={(e) => void open(e)} noValidate>
          <p>Reading the intake is recorded in the audit log with your name and the purpose you give.</p>
          {problem !== null && (
            <p role="alert" class="error" id="purpose-error">
              {problem}
            </p>
          )}
          <label for="purpose">Purpose</label>
          <input
            id="purpose"
            value={purpose}
            maxLength={200}
            aria-describedby={problem !== null ? 'purpose-error' : undefined}
            onInput={(e) => setPurpose(e.currentTarget.value)}
            placeholder="e.g. preparing the interview"
          />
          <button type="submit">Read the intake</button>
        </form>
      ) : (
        <>
          <Values value={intake} />
          <button type="button" onClick={() => setIntake(null)}>
            Close the intake
          </button>
        </>
      )}
    </section>
  );
}

function Values({ value }: { value: unknown }) {
  if (Array.isArray(value)) {
    return (
      <ol>
        {(value as unknown[]).map((item, i) => (
          <li key={i}>
            <Values value={item} />
          </li>
        ))}
      </ol>
    );
  }
  if (value !== null && typeof value === 'object') {
    return (
      <dl class="values">
        {Object.entries(value as Record<string, unknown>).map(([key, inner]) => (
          <div key={key}>
            <dt>{key.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase()}</dt>
            <dd>
              <Values value={inner} />
            </dd>
          </div>
        ))}
      </dl>
    );
  }
  const shown =
    typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : '—';
  return <>{shown}</>;
}
