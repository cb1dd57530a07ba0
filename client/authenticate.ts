/**
 * Bearer tokens, verified as jose documents it: one remote JWKS set created once, `jwtVerify` with the issuer,
 * the audience, an explicit algorithm list and the access-token type (`at+jwt`, RFC 9068), so an ID token or a
 * token for another API is refused. The verified claims become one typed Caller.
 */
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import { Caller, Role } from '../schemas/caller';

/** Asymmetric algorithms only: `none` and shared-secret (HS*) tokens are refused whatever their header says. */
export const ACCEPTED_ALGORITHMS = ['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA'];

export interface TokenVerifierOptions {
  issuer: string;
  audience: string;
  /** The claim holding the caller's roles (an array of strings, or a space-separated string). */
  rolesClaim: string;
  /** The claim holding the caller's office ids. */
  officesClaim: string;
  /** The claim holding the partner directory id a partner's token speaks for (default `leadline_partner`). */
  partnerClaim?: string;
  /** Clock tolerance for `exp` and `nbf`, in seconds. */
  clockTolerance?: number;
}

/** Why a token was refused, as RFC 6750 words it (`invalid_token`) with a description safe to show. */
export class AuthenticationError extends Error {
  override readonly name = 'AuthenticationError';
  constructor(
    readonly code: 'invalid_request' | 'invalid_token',
    message: string,
  ) {
    super(message);
  }
}

export type TokenVerifier = (authorization: string | undefined) => Promise<Caller>;

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  let discovering: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;
  const keySet = () => {
    if (jwks !== undefined) return Promise.resolve(jwks);
    discovering ??= discoverJwks(options.issuer).then(
      (url) => (jwks = createRemoteJWKSet(url)),
      (error: unknown) => {
        discovering = undefined;
        throw error;
      },
    );
    return discovering;
  };

  return async (authorization) => {
    if (authorization === undefined || authorization === '') {
      throw new AuthenticationError('invalid_request', 'a bearer token is required (Authorization: Bearer <token>)');
    }
    const match = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/.exec(authorization);
    if (match === null)
      throw new AuthenticationError('invalid_request', 'the Authorization header is not a bearer token');
    let payload: JWTPayload;
    // The provider unreachable is an outage, not the caller's fault: it is thrown as it is (503 at the API).
    const keys = await keySet();
    try {
      ({ payload } = await jwtVerify(match[1] ?? '', keys, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms: ACCEPTED_ALGORITHMS,
        typ: 'at+jwt',
        clockTolerance: options.clockTolerance ?? 5,
        requiredClaims: ['sub', 'exp'],
      }));
    } catch (error) {
      if (!(error instanceof errors.JOSEError) || error instanceof errors.JWKSTimeout) throw error;
      throw new AuthenticationError('invalid_token', describe(error));
    }
    const parsed = Caller.safeParse({
      subject: payload.sub,
      kind: payload.client_id !== undefined && payload.client_id === payload.sub ? 'service' : 'person',
      roles: listClaim(payload[options.rolesClaim]).filter((r) => Role.safeParse(r).success),
      offices: listClaim(payload[options.officesClaim]),
      ...partnerOf(payload[options.partnerClaim ?? 'leadline_partner']),
    });
    if (!parsed.success) throw new AuthenticationError('invalid_token', 'the token does not name its caller properly');
    return parsed.data;
  };
}

async function discoverJwks(issuer: string): Promise<URL> {
  const base = issuer.endsWith('/') ? issuer : `${issuer}/`;
  const response = await fetch(new URL('.well-known/openid-configuration', base));
  if (!response.ok) throw new Error(`the OpenID provider ${issuer} did not describe itself (HTTP ${response.status})`);
  const { jwks_uri: jwksUri, issuer: said } = (await response.json()) as { jwks_uri?: string; issuer?: string };
  if (said !== issuer) throw new Error(`the OpenID provider at ${issuer} calls itself ${String(said)}`);
  if (typeof jwksUri !== 'string') throw new Error(`the OpenID provider ${issuer} names no jwks_uri`);
  return new URL(jwksUri);
}

function partnerOf(value: unknown): { partner?: string } {
  return typeof value === 'string' && value !== '' ? { partner: value } : {};
}

function listClaim(value: unknown): string[] {
  if (typeof value === 'string') return value.split(' ').filter((s) => s !== '');
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}

/** What the caller may be told: which check failed, never the token or its claims. */
function describe(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'the token has expired';
  if (error instanceof errors.JWTClaimValidationFailed) return `the token's ${error.claim} claim is not accepted here`;
  if (error instanceof errors.JOSEAlgNotAllowed) return 'the token is signed with an algorithm not accepted here';
  if (error instanceof errors.JWKSNoMatchingKey) return 'the token is signed with a key the issuer does not publish';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the token signature does not verify';
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return 'the token is malformed';
  if (error instanceof errors.JOSENotSupported) return 'the token uses a form not accepted here';
  return 'the token could not be verified';
}
