import { createHash } from 'node:crypto';
/**
 * Bearer tokens from a real OpenID provider (the development one npm start runs), verified as the API verifies
 * them. The forged tokens are made by hand on purpose: they are the attacks.
 */
import { SignJWT, decodeJwt, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDirectory } from '../activities/directory';
import { AuthenticationError, createTokenVerifier, type TokenVerifier } from '../client/authenticate';
import { DEFAULT_AUDIENCE, personToken, serviceToken } from '../client/sign-in';
import {
  CLI_CLIENT_ID,
  CLI_REDIRECT_URI,
  DEFAULT_OFFICES_CLAIM,
  DEFAULT_ROLES_CLAIM,
  loadDevIdentities,
  startDevIdentityProvider,
  type DevIdentityProvider,
} from '../worker/identity-provider';

const AUDIENCE = DEFAULT_AUDIENCE;
let idp: DevIdentityProvider;
let shortLived: DevIdentityProvider;
let otherAudience: DevIdentityProvider;
let verify: TokenVerifier;

beforeAll(async () => {
  const identities = await loadDevIdentities(await loadDirectory());
  idp = await startDevIdentityProvider({ identities, audience: AUDIENCE });
  shortLived = await startDevIdentityProvider({ identities, audience: AUDIENCE, tokenTtl: 1 });
  otherAudience = await startDevIdentityProvider({ identities, audience: 'urn:someone-else' });
  verify = verifierFor(idp);
});
afterAll(async () => {
  await Promise.all([idp, shortLived, otherAudience].map((p) => p?.stop()));
});

const verifierFor = (provider: DevIdentityProvider, clockTolerance = 0) =>
  createTokenVerifier({
    issuer: provider.issuer,
    audience: AUDIENCE,
    rolesClaim: DEFAULT_ROLES_CLAIM,
    officesClaim: DEFAULT_OFFICES_CLAIM,
    clockTolerance,
  });

const person = (provider: DevIdentityProvider, login: string, audience = AUDIENCE) =>
  personToken({
    issuer: provider.issuer,
    clientId: CLI_CLIENT_ID,
    redirectUri: CLI_REDIRECT_URI,
    audience,
    login,
    password: provider.identities.password,
  }).then((t) => t.accessToken);

async function refusal(authorization: string | undefined, verifier = verify) {
  const error = await verifier(authorization).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AuthenticationError);
  return (error as AuthenticationError).message;
}

describe('a token from the OpenID provider', () => {
  it('names a person, their roles and offices', async () => {
    const caller = await verify(`Bearer ${await person(idp, 'hsi-newark.supervisor')}`);
    expect(caller).toEqual({
      subject: 'hsi-newark.supervisor',
      kind: 'person',
      roles: ['supervisor'],
      offices: ['HSI-NEWARK'],
    });
  });

  it('names a service account signed in with client credentials', async () => {
    const service = idp.identities.services[0]!;
    const { accessToken } = await serviceToken({
      issuer: idp.issuer,
      clientId: service.login,
      clientSecret: service.secret,
      audience: AUDIENCE,
    });
    expect(await verify(`Bearer ${accessToken}`)).toEqual({
      subject: 'intake',
      kind: 'service',
      roles: ['intake'],
      offices: [],
    });
  });

  it('is not issued for a wrong password', async () => {
    await expect(
      personToken({
        issuer: idp.issuer,
        clientId: CLI_CLIENT_ID,
        redirectUri: CLI_REDIRECT_URI,
        audience: AUDIENCE,
        login: 'hq',
        password: 'not-the-password',
      }),
    ).rejects.toThrow(/refused the sign-in of hq/);
  });
});

describe('refused tokens', () => {
  it('no header, or not a bearer token', async () => {
    expect(await refusal(undefined)).toMatch(/bearer token is required/);
    expect(await refusal('Basic aGk6dGhlcmU=')).toMatch(/not a bearer token/);
  });

  it('expired', async () => {
    const token = await person(shortLived, 'hq');
    await new Promise((r) => setTimeout(r, 2_100));
    expect(await refusal(`Bearer ${token}`, verifierFor(shortLived))).toBe('the token has expired');
  });

  it('for another audience', async () => {
    const token = await person(otherAudience, 'hq', 'urn:someone-else');
    expect(await refusal(`Bearer ${token}`, verifierFor(otherAudience))).toBe(
      "the token's aud claim is not accepted here",
    );
  });

  it('from another issuer', async () => {
    const token = await person(otherAudience, 'hq', 'urn:someone-else');
    // Signed by a key this issuer does not publish (and naming another issuer).
    expect(await refusal(`Bearer ${token}`)).toMatch(/key the issuer does not publish|iss claim/);
  });

  it('with a bad signature', async () => {
    const token = await person(idp, 'hsi-newark.agent');
    const [header, payload, signature] = token.split('.');
    // Elevate the caller in the payload; the signature no longer covers it.
    const claims = { ...decodeJwt(token), [DEFAULT_ROLES_CLAIM]: ['hq'] };
    const forged = Buffer.from(JSON.stringify(claims)).toString('base64url');
    expect(forged).not.toBe(payload);
    expect(await refusal(`Bearer ${header}.${forged}.${signature}`)).toBe('the token signature does not verify');
  });

  it('with alg none', async () => {
    const token = await person(idp, 'hsi-newark.agent');
    const payload = token.split('.')[1];
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url');
    expect(await refusal(`Bearer ${header}.${payload}.`)).toMatch(/algorithm not accepted|malformed/);
  });

  it('signed with an unknown key', async () => {
    const claims = decodeJwt(await person(idp, 'hsi-newark.agent'));
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT({ ...claims, [DEFAULT_ROLES_CLAIM]: ['hq'] })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'not-a-published-key' })
      .sign(privateKey);
    expect(await refusal(`Bearer ${forged}`)).toBe('the token is signed with a key the issuer does not publish');
  });

  it('signed with a shared secret (HS256)', async () => {
    const claims = decodeJwt(await person(idp, 'hsi-newark.agent'));
    const forged = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
      .sign(new TextEncoder().encode('a secret anyone could guess, long enough'));
    expect(await refusal(`Bearer ${forged}`)).toBe('the token is signed with an algorithm not accepted here');
  });
});

/**
 * The authorization-code flow as the Temporal UI server (ui-server v2.54.1, golang.org/x/oauth2) runs it for a
 * confidential client: no PKCE, the resource indicator only as an extra parameter of the authorization request, the
 * secret in the token request's Basic header. Resolves to the token endpoint's answer.
 */
async function webClientSignIn(options: {
  redirectUri: string;
  secret?: string;
  clientId?: string;
  /** Who signs in at the form (hq unless told). */
  login?: string;
  /** The browser's cookies at the provider: a session left by an earlier sign-in there is used again. */
  cookies?: Map<string, string>;
  /** For a public client, which must use PKCE. */
  codeChallenge?: string;
}): Promise<{ status: number; body: Record<string, unknown> } | { refused: string }> {
  const client = idp.identities.webClients[0]!;
  const clientId = options.clientId ?? client.clientId;
  const discovery = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as {
    authorization_endpoint: string;
    token_endpoint: string;
  };
  const authorize = new URL(discovery.authorization_endpoint);
  authorize.search = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    redirect_uri: options.redirectUri,
    scope: 'openid profile leads',
    state: 'state-1',
    nonce: 'nonce-1',
    resource: AUDIENCE,
    ...(options.codeChallenge === undefined
      ? {}
      : { code_challenge: options.codeChallenge, code_challenge_method: 'S256' }),
  }).toString();
  const cookies = options.cookies ?? new Map<string, string>();
  const step = async (url: string, init: RequestInit = {}) => {
    const response = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: {
        ...(init.headers as Record<string, string>),
        cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; '),
      },
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq > 0) cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return response;
  };
  let response = await step(authorize.toString());
  for (let hops = 0; hops < 10; hops++) {
    const location = response.headers.get('location');
    if (location === null) {
      if (response.status !== 200) return { refused: `HTTP ${response.status}: ${await response.text()}` };
      const action = /<form[^>]*action="([^"]+)"/.exec(await response.text())?.[1];
      if (action === undefined) return { refused: 'no sign-in form' };
      response = await step(new URL(action, idp.issuer).toString(), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ login: options.login ?? 'hq', password: idp.identities.password }),
      });
      continue;
    }
    const next = new URL(location, idp.issuer);
    if (next.origin === new URL(idp.issuer).origin) {
      response = await step(next.toString());
      continue;
    }
    // Back at the client's redirect, with a code or an error.
    const code = next.searchParams.get('code');
    if (code === null) {
      const error = `${next.searchParams.get('error')}: ${next.searchParams.get('error_description')}`;
      return { refused: error };
    }
    const secret = options.secret ?? client.secret;
    const token = await fetch(discovery.token_endpoint, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: options.redirectUri }),
    });
    return { status: token.status, body: (await token.json()) as Record<string, unknown> };
  }
  return { refused: 'too many redirects' };
}

describe("the Temporal UI's confidential client (config/dev-identities.json webClients)", () => {
  it('signs a person in without PKCE and gets an access token the API accepts, at any loopback port', async () => {
    const answer = await webClientSignIn({ redirectUri: 'http://127.0.0.1:28233/auth/sso/callback' });
    expect(answer).toMatchObject({ status: 200 });
    const body = 'body' in answer ? (answer.body as { access_token: string; id_token: string }) : undefined;
    expect(typeof body?.id_token).toBe('string');
    expect(typeof body?.access_token).toBe('string');
    if (body === undefined) return;
    expect(decodeJwt(body.id_token)).toMatchObject({ aud: 'temporal-ui', nonce: 'nonce-1', sub: 'hq' });
    expect(await verify(`Bearer ${body.access_token}`)).toEqual({
      subject: 'hq',
      kind: 'person',
      roles: ['hq'],
      offices: [],
    });
  });

  it('gets no token without its secret, and no code for another redirect', async () => {
    expect(
      await webClientSignIn({ redirectUri: 'http://127.0.0.1:28233/auth/sso/callback', secret: 'not-the-secret' }),
    ).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(await webClientSignIn({ redirectUri: 'http://127.0.0.1:28233/elsewhere' })).toMatchObject({
      refused: expect.stringContaining('redirect_uri') as unknown,
    });
    expect(await webClientSignIn({ redirectUri: 'http://attacker.example/auth/sso/callback' })).toMatchObject({
      refused: expect.stringContaining('redirect_uri') as unknown,
    });
  });

  it('lets no one in without its roles, even someone already signed in to another application there', async () => {
    // An agent signed in to the CLI (a session at the provider, as the console would leave one)...
    const browser = new Map<string, string>();
    const verifier = 'v'.repeat(64);
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const first = await webClientSignIn({
      clientId: CLI_CLIENT_ID,
      redirectUri: CLI_REDIRECT_URI,
      secret: '',
      login: 'hsi-newark.agent',
      cookies: browser,
      codeChallenge: challenge,
    });
    expect(first).not.toHaveProperty('refused');
    // ...opens the Temporal UI: no sign-in form this time, and still no way in.
    expect(
      await webClientSignIn({ redirectUri: 'http://127.0.0.1:28233/auth/sso/callback', cookies: browser }),
    ).toEqual({ refused: expect.stringMatching(/^HTTP 403: .*This application is for hq, admin only/s) as unknown });
    // HQ's session is let through the same way.
    const hq = new Map<string, string>();
    await webClientSignIn({
      clientId: CLI_CLIENT_ID,
      redirectUri: CLI_REDIRECT_URI,
      secret: '',
      login: 'hq',
      cookies: hq,
      codeChallenge: challenge,
    });
    expect(
      await webClientSignIn({ redirectUri: 'http://127.0.0.1:28233/auth/sso/callback', cookies: hq }),
    ).toMatchObject({ status: 200 });
  });

  it('is the only client that may skip PKCE', async () => {
    expect(
      await webClientSignIn({ clientId: CLI_CLIENT_ID, redirectUri: `${CLI_REDIRECT_URI}`, secret: '' }),
    ).toMatchObject({ refused: expect.stringMatching(/code_challenge|PKCE/i) as unknown });
  });
});
