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
