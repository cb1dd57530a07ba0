/**
 * Real sign-ins for tests: the development OpenID provider npm start runs, and tokens minted by it through the same
 * flows the CLI uses (code + PKCE for people, client credentials for services). No hand-made tokens.
 */
import { loadDirectory } from '../../activities/directory';
import { createAccessStore } from '../../activities/access-store';
import { createTokenVerifier, type TokenVerifier } from '../../client/authenticate';
import { GuardedLeads } from '../../client/guarded-leads';
import type { LeadClient } from '../../client/lead-client';
import { DEFAULT_AUDIENCE, personToken, serviceToken } from '../../client/sign-in';
import type pg from 'pg';
import {
  CLI_CLIENT_ID,
  CLI_REDIRECT_URI,
  DEFAULT_OFFICES_CLAIM,
  DEFAULT_ROLES_CLAIM,
  loadDevIdentities,
  startDevIdentityProvider,
  type DevIdentityProvider,
} from '../../worker/identity-provider';

export const TEST_AUDIENCE = DEFAULT_AUDIENCE;

export interface TestAccess {
  idp: DevIdentityProvider;
  authenticate: TokenVerifier;
  /** A person's access token (cached per login for the file's run). */
  token(login: string): Promise<string>;
  /** A service account's token (client credentials). */
  serviceToken(clientId?: string): Promise<string>;
  /** `Authorization: Bearer …` for a person. */
  as(login: string): Promise<{ authorization: string }>;
  guard(leads: LeadClient, pool: pg.Pool): GuardedLeads;
  stop(): Promise<void>;
}

export async function startTestAccess(options: { tokenTtl?: number } = {}): Promise<TestAccess> {
  const identities = await loadDevIdentities(await loadDirectory());
  const idp = await startDevIdentityProvider({
    identities,
    audience: TEST_AUDIENCE,
    ...(options.tokenTtl === undefined ? {} : { tokenTtl: options.tokenTtl }),
  });
  const cache = new Map<string, Promise<string>>();
  const token = (login: string) => {
    let cached = cache.get(login);
    if (cached === undefined) {
      cached = personToken({
        issuer: idp.issuer,
        clientId: CLI_CLIENT_ID,
        redirectUri: CLI_REDIRECT_URI,
        audience: TEST_AUDIENCE,
        login,
        password: identities.password,
      }).then((t) => t.accessToken);
      cache.set(login, cached);
    }
    return cached;
  };
  return {
    idp,
    authenticate: createTokenVerifier({
      issuer: idp.issuer,
      audience: TEST_AUDIENCE,
      rolesClaim: DEFAULT_ROLES_CLAIM,
      officesClaim: DEFAULT_OFFICES_CLAIM,
    }),
    token,
    async serviceToken(clientId = 'intake') {
      const service = identities.services.find((s) => s.login === clientId);
      if (service === undefined) throw new Error(`no development service account ${clientId}`);
      const key = `service:${clientId}`;
      let cached = cache.get(key);
      if (cached === undefined) {
        cached = serviceToken({
          issuer: idp.issuer,
          clientId,
          clientSecret: service.secret,
          audience: TEST_AUDIENCE,
        }).then((t) => t.accessToken);
        cache.set(key, cached);
      }
      return cached;
    },
    async as(login: string) {
      return { authorization: `Bearer ${await token(login)}` };
    },
    guard: (leads, pool) => new GuardedLeads(leads, createAccessStore(pool)),
    stop: () => idp.stop(),
  };
}
