/**
 * The development OpenID provider `npm start` runs on loopback, so that the two set-up commands give a system
 * where every caller signs in, exactly as in production, where LEADLINE_OIDC_ISSUER names the agency's provider.
 * It is `oidc-provider` (a certified implementation) with the sign-ins of config/dev-identities.json: people sign
 * in with the authorization-code flow and PKCE, services with the client-credentials grant; access tokens are
 * JWTs (`at+jwt`) for the Leadline API's audience, carrying `leadline_roles` and `leadline_offices`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import type { Configuration } from 'oidc-provider';
import { z } from 'zod';
import { createLogger } from '../activities/logger';
import { packagePath } from '../activities/package-files';
import type { Directory } from '../activities/directory';
import { CLI_CLIENT_ID, CLI_REDIRECT_URI } from '../client/sign-in';
import { DEFAULT_CONSOLE_CLIENT_ID } from '../client/http/console';
import { Role } from '../schemas/caller';

/** The claims the API reads roles and offices from (LEADLINE_OIDC_ROLES_CLAIM, LEADLINE_OIDC_OFFICES_CLAIM). */
export const DEFAULT_ROLES_CLAIM = 'leadline_roles';
export const DEFAULT_OFFICES_CLAIM = 'leadline_offices';
/** The claim naming a partner's directory id (LEADLINE_OIDC_PARTNER_CLAIM). */
export const DEFAULT_PARTNER_CLAIM = 'leadline_partner';
export { CLI_CLIENT_ID, CLI_REDIRECT_URI };

const identitiesSchema = z.object({
  password: z.string().min(8),
  users: z.array(
    z.object({
      login: z.string().min(1),
      name: z.string(),
      roles: z.array(Role),
      offices: z.array(z.string()),
      partner: z.string().min(1).optional(),
    }),
  ),
  perOffice: z.array(z.object({ suffix: z.string().min(1), name: z.string(), roles: z.array(Role) })),
  services: z.array(
    z.object({
      clientId: z.string().min(1),
      secret: z.string().min(16),
      name: z.string(),
      roles: z.array(Role),
      offices: z.array(z.string()),
      /** For a partner's service account: the partner directory id its tokens speak for. */
      partner: z.string().min(1).optional(),
    }),
  ),
  /**
   * Confidential web applications that sign people in with the authorization-code flow (the Temporal UI server of
   * `npm run cluster` and `LEADLINE_TEMPORAL_UI=server npm start`): a secret, and redirect URIs on loopback, where any
   * port is accepted as for the console.
   */
  webClients: z
    .array(
      z.object({
        clientId: z.string().min(1),
        secret: z.string().min(16),
        name: z.string(),
        redirectUris: z.array(z.url()).min(1),
        /** Who may sign in to it: people holding one of these roles (unset: anyone the provider knows). */
        roles: z.array(Role).min(1).optional(),
      }),
    )
    .default([]),
});

export const DEFAULT_IDENTITIES_PATH = packagePath('config/dev-identities.json');

export interface DevPerson {
  login: string;
  name: string;
  roles: Role[];
  offices: string[];
  partner?: string;
}
export interface DevService extends DevPerson {
  secret: string;
}
export interface DevWebClient {
  clientId: string;
  secret: string;
  name: string;
  redirectUris: string[];
  /** Only people with one of these roles may sign in to it. */
  roles?: Role[];
}
export interface DevIdentities {
  password: string;
  people: DevPerson[];
  services: DevService[];
  webClients: DevWebClient[];
}

/** The configured sign-ins, with a supervisor, an agent and a SAC for every office of the directory. */
export async function loadDevIdentities(
  directory: Directory,
  path: string | URL = DEFAULT_IDENTITIES_PATH,
): Promise<DevIdentities> {
  const parsed = identitiesSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(file)'}: ${i.message}`).join('; ');
    throw new Error(`development identities ${String(path)} are not valid: ${issues}`);
  }
  const { password, users, perOffice, services, webClients } = parsed.data;
  // A web client is excused from PKCE by its id: it must not take the console's id, or a service's.
  const taken = new Set([DEFAULT_CONSOLE_CLIENT_ID, ...services.map((s) => s.clientId)]);
  for (const client of webClients) {
    if (taken.has(client.clientId)) {
      throw new Error(
        `development identities ${String(path)}: web client ${client.clientId} takes another client's id`,
      );
    }
    taken.add(client.clientId);
    for (const uri of client.redirectUris) {
      if (loopbackOrigin(uri) === null) {
        throw new Error(
          `development identities ${String(path)}: ${client.clientId}'s redirect ${uri} is not on loopback`,
        );
      }
    }
  }
  const people: DevPerson[] = [...users];
  for (const office of directory.offices) {
    for (const template of perOffice) {
      people.push({
        login: `${office.id.toLowerCase()}.${template.suffix}`,
        name: `${office.name}: ${template.name}`,
        roles: template.roles,
        offices: [office.id],
      });
    }
  }
  return {
    password,
    people,
    services: services.map(({ clientId, ...rest }) => ({ login: clientId, ...rest })),
    webClients,
  };
}

let noticesRouted = false;

/**
 * oidc-provider speaks through console.warn and console.info (`oidc-provider WARNING: ...`, in ANSI colour on a TTY),
 * at import and later: its lines go to Leadline's logger instead, at info, since what it warns of (in-memory storage,
 * development keys, an unlisted Node.js line) is what a development provider is. Other console output is untouched.
 */
function routeProviderNotices(): void {
  if (noticesRouted) return;
  noticesRouted = true;
  const log = createLogger({ name: 'oidc-provider' });
  for (const method of ['warn', 'info'] as const) {
    const original = console[method].bind(console);
    console[method] = (...args: unknown[]) => {
      const [first] = args;
      const text = typeof first === 'string' ? first.replace(/\x1b\[[0-9;]*m/g, '') : '';
      const notice = /^oidc-provider (?:WARNING|NOTICE): ([\s\S]*)$/.exec(text);
      if (notice === null || args.length > 1) original(...args);
      else log.info(notice[1]);
    };
  }
}

export interface DevIdentityProvider {
  issuer: string;
  audience: string;
  identities: DevIdentities;
  stop(): Promise<void>;
}

/**
 * Starts the provider on loopback. `port` 0 takes a free one; the issuer is `http://127.0.0.1:<port>`.
 * Signing keys live as long as the process: a restart signs tokens again, which is all a development setup needs.
 */
export async function startDevIdentityProvider(options: {
  identities: DevIdentities;
  audience: string;
  port?: number;
  host?: string;
  /** Access-token lifetime in seconds. */
  tokenTtl?: number;
}): Promise<DevIdentityProvider> {
  const host = options.host ?? '127.0.0.1';
  if (!['127.0.0.1', '::1', 'localhost'].includes(host)) {
    throw new Error('the development OpenID provider serves loopback only; use a real identity provider elsewhere');
  }
  const { identities, audience } = options;
  const ttl = options.tokenTtl ?? 3600;
  const people = new Map(identities.people.map((p) => [p.login, p]));
  const services = new Map(identities.services.map((s) => [s.login, s]));
  const webClients = new Map(identities.webClients.map((c) => [c.clientId, c]));

  // The issuer URL needs the port, so the server listens first and is handed its requests once the provider exists
  // (nobody knows the port before that).
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const issuer = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const signingKey = {
    ...(await exportJWK(privateKey)),
    kid: randomBytes(8).toString('hex'),
    alg: 'ES256',
    use: 'sig',
  };

  const claimsOf = (roles: Role[], offices: string[], partner: string | undefined) => ({
    [DEFAULT_ROLES_CLAIM]: roles,
    [DEFAULT_OFFICES_CLAIM]: offices,
    ...(partner === undefined ? {} : { [DEFAULT_PARTNER_CLAIM]: partner }),
  });

  const configuration: Configuration = {
    clients: [
      {
        client_id: CLI_CLIENT_ID,
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: [CLI_REDIRECT_URI],
      },
      {
        // The console: a browser page on the API's origin, so a public client too. Its redirect is the console's
        // page on loopback, at whatever port the API listens (see `loopbackOrigin` below).
        client_id: DEFAULT_CONSOLE_CLIENT_ID,
        application_type: 'web',
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: CONSOLE_REDIRECTS,
      },
      ...identities.webClients.map((c) => ({
        // A server-side application with a secret (client_secret_basic): the code it receives is useless without it.
        client_id: c.clientId,
        client_secret: c.secret,
        application_type: 'web' as const,
        grant_types: ['authorization_code'],
        response_types: ['code' as const],
        redirect_uris: c.redirectUris,
      })),
      ...identities.services.map((s) => ({
        client_id: s.login,
        client_secret: s.secret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      })),
    ],
    clientDefaults: { id_token_signed_response_alg: 'ES256' },
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    scopes: ['openid'],
    claims: { openid: ['sub'], profile: ['name'] },
    // PKCE for every client but the confidential web clients, which authenticate with their secret instead (the
    // Temporal UI server sends no code challenge).
    pkce: { required: (_ctx, client) => !webClients.has(client.clientId) },
    ttl: { AccessToken: ttl, ClientCredentials: ttl, IdToken: ttl, Interaction: 600, Session: 3600, Grant: 3600 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => audience,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => {
          if (resource !== audience) throw new Error(`unknown resource ${resource}`);
          return { scope: 'leads', audience, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } };
        },
      },
    },
    findAccount: (_ctx, sub) => {
      const person = people.get(sub);
      if (person === undefined) return undefined;
      return { accountId: sub, claims: () => ({ sub, name: person.name }) };
    },
    extraTokenClaims: (_ctx, token) => {
      if (token.kind === 'ClientCredentials') {
        const service = services.get(token.clientId ?? '');
        return service === undefined ? undefined : claimsOf(service.roles, service.offices, service.partner);
      }
      const person = people.get((token as { accountId?: string }).accountId ?? '');
      return person === undefined ? undefined : claimsOf(person.roles, person.offices, person.partner);
    },
    // The console's page calls the token endpoint from the API's origin, which is on loopback at any port.
    clientBasedCORS: (_ctx, origin, client) =>
      client.clientId === DEFAULT_CONSOLE_CLIENT_ID ? loopbackOrigin(origin) !== null : false,
    renderError: (ctx, out) => {
      ctx.type = 'application/json';
      ctx.body = out;
    },
  };
  routeProviderNotices();
  const { default: Provider } = await import('oidc-provider');
  const provider = new Provider(issuer, configuration);
  // RFC 8252 §7.3 lets a loopback redirect use any port; the development console (like the CLI) needs that, because
  // the API's port is set by PORT or chosen free in tests. Any other redirect is checked exactly as registered.
  const exactRedirect = Object.getOwnPropertyDescriptor(provider.Client.prototype, 'redirectUriAllowed')?.value as (
    this: unknown,
    uri: string,
  ) => boolean;
  provider.Client.prototype.redirectUriAllowed = function (this: InstanceType<typeof provider.Client>, uri: string) {
    if (this.clientId === DEFAULT_CONSOLE_CLIENT_ID) {
      const origin = loopbackOrigin(uri);
      return origin !== null && uri === `${origin}/console/`;
    }
    const web = webClients.get(this.clientId);
    if (web !== undefined) {
      // The same URI as registered but for the port (the Temporal UI's port is TEMPORAL_UI_PORT's, or free in tests).
      return loopbackOrigin(uri) !== null && web.redirectUris.some((registered) => samePortless(registered, uri));
    }
    return exactRedirect.call(this, uri);
  };
  const oidc = provider.callback();

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', issuer);
    const match = /^\/interaction\/([\w-]+)(\/login)?$/.exec(url.pathname);
    if (match === null) {
      void Promise.resolve(oidc(req, res));
      return;
    }
    interaction(req, res, match[1] ?? '', match[2] !== undefined).catch(() => {
      if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' }).end('sign-in failed');
    });
  });

  /**
   * An application for some roles only (the Temporal UI: HQ HSTU and admins) lets no one else in, whether they sign in
   * now or already hold a session from another application (the console): the roles it is for, when `login` has none.
   */
  function refusedTo(clientId: unknown, login: string): string[] | undefined {
    const only = typeof clientId === 'string' ? webClients.get(clientId)?.roles : undefined;
    if (only === undefined || people.get(login)?.roles.some((role) => only.includes(role))) return undefined;
    return only;
  }
  function refuse(res: ServerResponse, uid: string, only: string[]) {
    res.writeHead(403, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(signInPage(uid, `This application is for ${only.join(', ')} only.`));
  }

  /** The sign-in page: a plain form, and its POST, which checks the development password. */
  async function interaction(req: IncomingMessage, res: ServerResponse, uid: string, submitted: boolean) {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) throw new Error('no sign-in is pending here');
    if (details.prompt.name === 'consent') {
      // First-party clients only: signing in is the consent, so the grant covers what the client asked for.
      const accountId = details.session?.accountId;
      const clientId = details.params.client_id;
      if (accountId === undefined || typeof clientId !== 'string') throw new Error('consent without a sign-in');
      const only = refusedTo(clientId, accountId);
      if (only !== undefined) {
        refuse(res, uid, only);
        return;
      }
      const grant = new provider.Grant({ accountId, clientId });
      const missing = details.prompt.details as {
        missingOIDCScope?: string[];
        missingOIDCClaims?: string[];
        missingResourceScopes?: Record<string, string[]>;
      };
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
        grant.addResourceScope(resource, scopes.join(' '));
      }
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      return;
    }
    if (details.prompt.name !== 'login') throw new Error('no sign-in is pending here');
    if (!submitted) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(signInPage(uid));
      return;
    }
    const form = new URLSearchParams(await body(req));
    const login = form.get('login') ?? '';
    const accepted = people.has(login) && form.get('password') === identities.password;
    if (!accepted) {
      res.writeHead(401, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(signInPage(uid, 'Unknown user or wrong password.'));
      return;
    }
    const only = refusedTo(details.params.client_id, login);
    if (only !== undefined) {
      refuse(res, uid, only);
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  }

  return {
    issuer,
    audience,
    identities,
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
    },
  };
}

const CONSOLE_REDIRECTS = ['http://127.0.0.1/console/', 'http://localhost/console/'];

/** The origin of a URL on loopback (any port), or null for any other URL. */
function loopbackOrigin(url: string): string | null {
  const parsed = URL.parse(url);
  if (parsed === null || parsed.protocol !== 'http:') return null;
  return ['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname) ? parsed.origin : null;
}

/** Two URLs equal but for their ports (a redirect's query and fragment included). */
function samePortless(a: string, b: string): boolean {
  const [x, y] = [URL.parse(a), URL.parse(b)];
  if (x === null || y === null) return false;
  x.port = '';
  y.port = '';
  return x.href === y.href;
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 16_384) throw new Error('sign-in form too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function signInPage(uid: string, problem?: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in to Leadline (development)</title></head>
<body><main>
<h1>Sign in to Leadline</h1>
<p>Development sign-in: the users are listed in config/dev-identities.json.</p>
${problem === undefined ? '' : `<p role="alert">${problem}</p>`}
<form method="post" action="/interaction/${encodeURIComponent(uid)}/login">
<label for="login">User</label> <input id="login" name="login" autocomplete="username" required>
<label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
</main></body></html>`;
}
