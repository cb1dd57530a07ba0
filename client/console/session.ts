/**
 * Signing a person in from the console: the OpenID authorization-code flow with PKCE (RFC 7636) against the
 * provider the API names in /console/config.json. The access token lives in this tab's sessionStorage only (gone
 * when the tab closes; never in a cookie the API would have to trust); the provider's own session makes the next
 * sign-in a redirect without a form.
 */

export interface ConsoleSettings {
  issuer: string;
  clientId: string;
  audience: string;
}

export interface Session {
  accessToken: string;
  expiresAt: number;
}

const TOKEN = 'leadline.session';
const PENDING = 'leadline.sign-in';

interface Pending {
  state: string;
  verifier: string;
  returnTo: string;
}

const base64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');

function randomText(size: number): string {
  return base64url(crypto.getRandomValues(new Uint8Array(size)));
}

async function challengeOf(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

interface Discovery {
  authorization_endpoint: string;
  token_endpoint: string;
  end_session_endpoint?: string;
}

async function discover(issuer: string): Promise<Discovery> {
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  const response = await fetch(url);
  if (!response.ok) throw new Error(`the sign-in service ${issuer} did not answer (HTTP ${response.status})`);
  return (await response.json()) as Discovery;
}

const redirectUri = () => `${location.origin}/console/`;

export async function loadSettings(): Promise<ConsoleSettings> {
  const response = await fetch('/console/config.json');
  if (!response.ok) throw new Error(`the console's settings did not load (HTTP ${response.status})`);
  return (await response.json()) as ConsoleSettings;
}

export function currentSession(): Session | null {
  const raw = sessionStorage.getItem(TOKEN);
  if (raw === null) return null;
  try {
    const session = JSON.parse(raw) as Session;
    // A token about to expire is not worth a request that would fail halfway through a form.
    return session.expiresAt - 30_000 > Date.now() ? session : null;
  } catch {
    return null;
  }
}

export function forgetSession(): void {
  sessionStorage.removeItem(TOKEN);
}

/** Leaves the page for the provider's sign-in; the browser comes back to /console/ with a code. */
export async function beginSignIn(settings: ConsoleSettings): Promise<never> {
  const { authorization_endpoint } = await discover(settings.issuer);
  const pending: Pending = { state: randomText(16), verifier: randomText(32), returnTo: location.hash || '#/' };
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  const url = new URL(authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: settings.clientId,
    response_type: 'code',
    redirect_uri: redirectUri(),
    scope: 'openid leads',
    resource: settings.audience,
    state: pending.state,
    code_challenge: await challengeOf(pending.verifier),
    code_challenge_method: 'S256',
  }).toString();
  location.assign(url.toString());
  return new Promise<never>(() => undefined);
}

/**
 * On the way back from the provider: trades the code for a token, checks the state, and puts the page back where
 * the person was. Returns null when the URL carries no answer from the provider.
 */
export async function completeSignIn(settings: ConsoleSettings): Promise<Session | null> {
  const params = new URLSearchParams(location.search);
  const code = params.get('code');
  const error = params.get('error');
  if (code === null && error === null) return null;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? 'null') as Pending | null;
  sessionStorage.removeItem(PENDING);
  history.replaceState(null, '', `/console/${pending?.returnTo ?? '#/'}`);
  if (error !== null) throw new Error(`the sign-in was refused: ${params.get('error_description') ?? error}`);
  if (pending === null || params.get('state') !== pending.state) {
    throw new Error('the sign-in came back without the request this page sent; sign in again');
  }
  const { token_endpoint } = await discover(settings.issuer);
  const response = await fetch(token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      client_id: settings.clientId,
      code: code ?? '',
      redirect_uri: redirectUri(),
      code_verifier: pending.verifier,
      resource: settings.audience,
    }),
  });
  const body = (await response.json().catch(() => ({}))) as {
    access_token?: string;
    expires_in?: number;
    error_description?: string;
  };
  if (!response.ok || typeof body.access_token !== 'string') {
    throw new Error(`the sign-in service refused the code: ${body.error_description ?? `HTTP ${response.status}`}`);
  }
  const session = { accessToken: body.access_token, expiresAt: Date.now() + (body.expires_in ?? 300) * 1000 };
  sessionStorage.setItem(TOKEN, JSON.stringify(session));
  return session;
}
