/**
 * The Leadline console: the page agents, supervisors and HQ work from. It signs the person in (session.ts), asks
 * the API who they are (GET /me), and shows one of three views by the URL's fragment: the queue (#/), a lead
 * (#/leads/<id>) and the HQ overview (#/overview). Everything it shows comes from the API, scoped by the API.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, SignedOut, type Me, type OfficeReport } from './api';
import { LeadPage } from './lead';
import { Overview } from './overview';
import { Queue } from './queue';
import {
  beginSignIn,
  completeSignIn,
  currentSession,
  forgetSession,
  loadSettings,
  type ConsoleSettings,
} from './session';

function useHash(): string {
  const [hash, setHash] = useState(location.hash || '#/');
  useEffect(() => {
    const changed = () => setHash(location.hash || '#/');
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return hash;
}

/** Office ids to names, for the offices the caller may see (HQ: all of them, from the overview report). */
export type OfficeNames = (id: string) => string;

type Stage =
  | { kind: 'loading' }
  | { kind: 'signed-out'; reason: string | null }
  | { kind: 'failed'; message: string }
  | { kind: 'ready'; me: Me };

function App({ settings }: { settings: ConsoleSettings }) {
  const [stage, setStage] = useState<Stage>({ kind: 'loading' });
  const [offices, setOffices] = useState<Map<string, string>>(new Map());
  const hash = useHash();

  const signedOut = (reason: string | null) => {
    forgetSession();
    setStage({ kind: 'signed-out', reason });
  };

  useEffect(() => {
    (async () => {
      try {
        await completeSignIn(settings);
      } catch (error) {
        setStage({ kind: 'signed-out', reason: (error as Error).message });
        return;
      }
      if (currentSession() === null) return setStage({ kind: 'signed-out', reason: null });
      const me = await api<Me>('/me');
      setStage({ kind: 'ready', me });
      if (me.may.readReports) {
        const report = await api<OfficeReport>('/reports/offices').catch(() => null);
        if (report !== null) setOffices(new Map(report.offices.map((o) => [o.office, o.name])));
      }
    })().catch((error: unknown) => {
      if (error instanceof SignedOut) signedOut('Your sign-in has expired. Sign in again to go on.');
      else setStage({ kind: 'failed', message: (error as Error).message });
    });
  }, [settings]);

  const onError = (error: unknown) => {
    if (error instanceof SignedOut) signedOut('Your sign-in has expired. Sign in again to go on.');
  };
  const officeName: OfficeNames = (id) => offices.get(id) ?? id;

  if (stage.kind === 'loading') return <p class="loading">Loading the Leadline console…</p>;
  if (stage.kind === 'failed') {
    return (
      <main id="main" class="page">
        <h1>Leadline</h1>
        <p role="alert" class="error">
          The console could not start: {stage.message}
        </p>
      </main>
    );
  }
  if (stage.kind === 'signed-out') {
    return (
      <main id="main" class="page sign-in">
        <h1>Leadline console</h1>
        <p>Leads about potential victims of trafficking, for the agents, supervisors and HQ who act on them.</p>
        {stage.reason !== null && (
          <p role="alert" class="error">
            {stage.reason}
          </p>
        )}
        <button type="button" class="primary" onClick={() => void beginSignIn(settings)}>
          Sign in
        </button>
      </main>
    );
  }

  const { me } = stage;
  const lead = /^#\/leads\/([0-9a-f-]{36})$/.exec(hash);
  const view = lead?.[1] !== undefined ? 'lead' : hash.startsWith('#/overview') ? 'overview' : 'queue';
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}>
        Skip to the content
      </a>
      <header class="bar">
        <span class="brand">Leadline</span>
        <nav aria-label="Console">
          <a href="#/" aria-current={view === 'queue' ? 'page' : undefined}>
            Queue
          </a>
          {me.may.readReports && (
            <a href="#/overview" aria-current={view === 'overview' ? 'page' : undefined}>
              Overview
            </a>
          )}
        </nav>
        <span class="who">
          Signed in as <strong>{me.subject}</strong> ({me.roles.join(', ') || 'no role'}
          {me.offices.length > 0 ? `; ${me.offices.join(', ')}` : ''})
        </span>
        <button type="button" onClick={() => signedOut('You signed out.')}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1} class="page">
        {view === 'queue' && <Queue me={me} officeName={officeName} offices={offices} onError={onError} />}
        {view === 'lead' && lead?.[1] !== undefined && (
          <LeadPage
            key={lead[1]}
            leadId={lead[1]}
            me={me}
            officeName={officeName}
            offices={offices}
            onError={onError}
          />
        )}
        {view === 'overview' && <Overview onError={onError} />}
      </main>
    </>
  );
}

const root = document.getElementById('app');
if (root !== null) {
  loadSettings()
    .then((settings) => render(<App settings={settings} />, root))
    .catch((error: unknown) => {
      root.textContent = `The console could not start: ${(error as Error).message}`;
    });
}
