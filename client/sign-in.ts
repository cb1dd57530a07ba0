/**
 * Getting an access token from an OpenID provider, for the CLI and for tests: a service with the
 * client-credentials grant, a person with the authorization-code flow and PKCE through the provider's own sign-in
 * form (the development provider's; a production provider signs people in through a browser).
 */
import { createHash, randomBytes } from 'node:crypto';

/** The public client Leadline signs people in with (the CLI, the tests), as the development provider registers it. */
export const CLI_CLIENT_ID = 'leadline-cli';
export const CLI_REDIRECT_URI = 'http://127.0.0.1/leadline/signed-in';
export { DEFAULT_AUDIENCE } from '../activities/config';

export interface TokenResponse {
  accessToken: string;
  expiresIn: number;
}

interface Discovery {
  authorization_endpoint: string;
  token_endpoint: string;
}

async function discover(issuer: string): Promise<Discovery> {
  const response = await fetch(new URL('.well-known/openid-configuration', withSlash(issuer)));
  if (!response.ok) throw new Error(`the OpenID provider ${issuer} did not describe itself (HTTP ${response.status})`);
  return (await response.json()) as Discovery;
}

const withSlash = (url: string) => (url.endsWith('/') ? url : `${url}/`);

async function tokenFrom(response: Response): Promise<TokenResponse> {
  const body = (await response.json().catch(() => ({}))) as {
    access_token?: string;
    expires_in?: number;
    error?: string;
    error_description?: string;
  };
  if (!response.ok || typeof body.access_token !== 'string') {
    throw new Error(
      `the OpenID provider refused the token request: ${body.error ?? response.status} ${body.error_description ?? ''}`.trim(),
    );
  }
  return { accessToken: body.access_token, expiresIn: body.expires_in ?? 0 };
}

/** A service account's token (client-credentials grant, client_secret_basic). */
export async function serviceToken(options: {
  issuer: string;
  clientId: string;
  clientSecret: string;
  audience: string;
}): Promise<TokenResponse> {
  const { token_endpoint } = await discover(options.issuer);
  const basic = Buffer.from(
    `${encodeURIComponent(options.clientId)}:${encodeURIComponent(options.clientSecret)}`,
  ).toString('base64');
  return tokenFrom(
    await fetch(token_endpoint, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: options.audience, scope: 'leads' }),
    }),
  );
}

/** Cookies a provider sets during one sign-in, sent back on each following request of it. */
class CookieJar {
  private readonly cookies = new Map<string, string>();
  take(response: Response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair?.indexOf('=') ?? -1;
      if (pair !== undefined && eq > 0) this.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
  }
  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

/**
 * A person's token: the authorization-code flow with PKCE, answering the provider's sign-in form with a login and
 * password. Follows the provider's redirects itself, up to the redirect back to `redirectUri`, which carries the code.
 */
export async function personToken(options: {
  issuer: string;
  clientId: string;
  redirectUri: string;
  audience: string;
  login: string;
  password: string;
}): Promise<TokenResponse> {
  const { authorization_endpoint, token_endpoint } = await discover(options.issuer);
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(16).toString('base64url');
  const authorize = new URL(authorization_endpoint);
  authorize.search = new URLSearchParams({
    client_id: options.clientId,
    response_type: 'code',
    redirect_uri: options.redirectUri,
    scope: 'openid leads',
    resource: options.audience,
    state,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString();

  const jar = new CookieJar();
  const step = async (url: string, init: RequestInit = {}) => {
    const response = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers as Record<string, string>), cookie: jar.header() },
    });
    jar.take(response);
    return response;
  };
  let response = await step(authorize.toString());
  let signedIn = false;
  for (let hops = 0; hops < 10; hops++) {
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location !== null) {
      const next = new URL(location, authorization_endpoint);
      if (next.toString().startsWith(options.redirectUri)) {
        const error = next.searchParams.get('error');
        if (error !== null) throw new Error(`the OpenID provider refused the sign-in: ${error}`);
        if (next.searchParams.get('state') !== state) throw new Error('the sign-in came back with another state');
        const code = next.searchParams.get('code');
        if (code === null) throw new Error('the sign-in came back without a code');
        return tokenFrom(
          await fetch(token_endpoint, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({
              grant_type: 'authorization_code',
              client_id: options.clientId,
              code,
              redirect_uri: options.redirectUri,
              code_verifier: verifier,
              resource: options.audience,
            }),
          }),
        );
      }
      response = await step(next.toString());
      continue;
    }
    if (response.status === 200 && !signedIn) {
      // The sign-in form: its action names where the login goes.
      const html = await response.text();
      const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
      if (action === undefined) throw new Error('the OpenID provider showed no sign-in form');
      signedIn = true;
      response = await step(new URL(action.replace(/&amp;/g, '&'), response.url || authorization_endpoint).toString(), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ login: options.login, password: options.password }),
      });
      continue;
    }
    if (response.status === 401) throw new Error(`the OpenID provider refused the sign-in of ${options.login}`);
    throw new Error(`the sign-in stopped at HTTP ${response.status}`);
  }
  throw new Error('the sign-in went round in circles');
}
