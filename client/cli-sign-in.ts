/**
 * How the CLI signs in and keeps its token: `leadline login` stores one access token per user account on this
 * machine (a file only its owner may read), every API call sends it as a bearer token, and `leadline token` prints
 * one for curl. Against the development provider the passwords and service secrets come from
 * config/dev-identities.json; against any other provider they must be given.
 */
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { packagePath } from '../activities/package-files';
import { CLI_CLIENT_ID, CLI_REDIRECT_URI, DEFAULT_AUDIENCE, personToken, serviceToken } from './sign-in';

export const DEFAULT_ISSUER = 'http://127.0.0.1:3001';
export { DEFAULT_AUDIENCE };
const DEV_IDENTITIES = packagePath('config/dev-identities.json');

export interface SignInOptions {
  as?: string;
  client?: string;
  password?: string;
  secret?: string;
  issuer: string;
  audience: string;
}

const Stored = z.object({
  issuer: z.string(),
  audience: z.string(),
  subject: z.string(),
  accessToken: z.string(),
  expiresAt: z.number(),
});
type Stored = z.infer<typeof Stored>;

export function credentialsPath(env: NodeJS.ProcessEnv): string {
  if (env.LEADLINE_CREDENTIALS) return env.LEADLINE_CREDENTIALS;
  const config = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(config, 'leadline', 'credentials.json');
}

/** The development provider's shared secrets, only ever for a provider on this machine. */
function devSecrets(issuer: string): { password?: string; services: Map<string, string> } {
  const host = new URL(issuer).hostname;
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(host)) return { services: new Map() };
  try {
    const file = z
      .object({ password: z.string(), services: z.array(z.object({ clientId: z.string(), secret: z.string() })) })
      .parse(JSON.parse(readFileSync(DEV_IDENTITIES, 'utf8')));
    return { password: file.password, services: new Map(file.services.map((s) => [s.clientId, s.secret])) };
  } catch {
    return { services: new Map() };
  }
}

export async function signIn(options: SignInOptions): Promise<Stored> {
  const { issuer, audience } = options;
  const dev = devSecrets(issuer);
  if (options.client !== undefined) {
    const secret = options.secret ?? dev.services.get(options.client);
    if (secret === undefined) throw new Error(`--secret is needed for the service account ${options.client}`);
    const token = await serviceToken({ issuer, audience, clientId: options.client, clientSecret: secret });
    return stored(issuer, audience, options.client, token);
  }
  if (options.as === undefined) throw new Error('say who signs in: --as <user> or --client <service account>');
  const password = options.password ?? dev.password;
  if (password === undefined) throw new Error(`--password is needed to sign in as ${options.as} at ${issuer}`);
  const token = await personToken({
    issuer,
    audience,
    clientId: CLI_CLIENT_ID,
    redirectUri: CLI_REDIRECT_URI,
    login: options.as,
    password,
  });
  return stored(issuer, audience, options.as, token);
}

function stored(issuer: string, audience: string, subject: string, token: { accessToken: string; expiresIn: number }) {
  return { issuer, audience, subject, accessToken: token.accessToken, expiresAt: Date.now() + token.expiresIn * 1000 };
}

export function saveCredentials(path: string, credentials: Stored): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, `${JSON.stringify(credentials)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
}

export function forgetCredentials(path: string): void {
  rmSync(path, { force: true });
}

/** The stored token, unless it has expired (then the caller is told to sign in again). */
export function storedToken(path: string): string | undefined {
  let credentials: Stored;
  try {
    credentials = Stored.parse(JSON.parse(readFileSync(path, 'utf8')));
  } catch {
    return undefined;
  }
  if (credentials.expiresAt <= Date.now()) {
    throw new Error(`the token of ${credentials.subject} has expired: sign in again with leadline login`);
  }
  return credentials.accessToken;
}
