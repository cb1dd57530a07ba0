import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCodecTlsFront, type CodecTlsFront } from './codec-tls-front';
import { goInstall, leadlineCacheDir } from './go-install';
import type { LeadlineEnv } from '../activities/config';
import type { DevIdentities } from './identity-provider';

/*
 * Temporal's standalone UI server (github.com/temporalio/ui-server, the same UI the `temporal` CLI embeds in its dev
 * server, with its built assets in the module), for `npm run cluster` and `LEADLINE_TEMPORAL_UI=server npm start`:
 * built from its Go module once per version, run against the cluster's frontend or the dev server, signing its users
 * in to Leadline's OpenID provider and decoding payloads through the API's codec server with the signed-in user's
 * access token.
 */

export const TEMPORAL_UI_VERSION = '2.54.1';
const MODULE = 'github.com/temporalio/ui-server/v2';

/** `${LEADLINE_CACHE_DIR:-~/.cache/leadline}/temporal-ui/v<version>`: one folder per version, as the server's. */
export function temporalUiCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(leadlineCacheDir(env), 'temporal-ui', `v${TEMPORAL_UI_VERSION}`);
}

/**
 * The UI server's binary: TEMPORAL_UI_SERVER_PATH when set; else the cache's, built there with `go install` when
 * missing (its go.mod asks for go 1.26.5, so the local Go builds it; `go` must be on PATH and reaches the Go module
 * proxy). A build that did not finish leaves no completion marker, and the next start builds again.
 */
export async function ensureTemporalUi(say: (line: string) => void, env: NodeJS.ProcessEnv = process.env) {
  const fromEnv = env.TEMPORAL_UI_SERVER_PATH;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!existsSync(fromEnv)) throw new Error(`TEMPORAL_UI_SERVER_PATH: ${fromEnv} does not exist`);
    return fromEnv;
  }
  const dir = temporalUiCacheDir(env);
  const binary = join(dir, 'bin', 'temporal-ui-server');
  const stamp = join(dir, 'complete.json');
  if (existsSync(stamp) && existsSync(binary)) return binary;

  const logFile = join(dir, 'build.log');
  mkdirSync(dir, { recursive: true });
  say(
    `Temporal UI ${TEMPORAL_UI_VERSION} is not built yet: building its server from the Go module proxy into ${dir} ` +
      `(a few minutes on 2 cores, once per version; log ${logFile})`,
  );
  const started = Date.now();
  const built = await goInstall({
    dir,
    packages: [`${MODULE}/cmd/server@v${TEMPORAL_UI_VERSION}`],
    logFile,
    what: 'go install of the Temporal UI server',
    env,
  });
  mkdirSync(join(dir, 'bin'), { recursive: true });
  renameSync(join(built, 'server'), binary);
  const seconds = Math.round((Date.now() - started) / 1000);
  writeFileSync(
    stamp,
    `${JSON.stringify({ version: TEMPORAL_UI_VERSION, builtAt: new Date().toISOString(), buildSeconds: seconds })}\n`,
  );
  say(
    `Temporal UI ${TEMPORAL_UI_VERSION} built in ${seconds} s (${(statSync(binary).size / 1e6).toFixed(0)} MB binary)`,
  );
  return binary;
}

export interface TemporalUiOptions {
  binary: string;
  /** The Temporal frontend's gRPC address. */
  temporalAddress: string;
  namespace: string;
  /** On 127.0.0.1: the UI is at http://127.0.0.1:<port>. */
  port: number;
  /** The OpenID provider the UI signs its users in to, and its confidential client there. */
  auth: {
    issuer: string;
    clientId: string;
    clientSecret: string;
    /**
     * The API's audience: asked for as a resource indicator (RFC 8707), so that the access token the UI receives, and
     * passes to the codec server, is one the API accepts.
     */
    audience: string;
  };
  /** The codec server the browser calls with the user's access token: https (the UI sends a token to no other). */
  codecEndpoint: string;
  /** The UI server's config file (it holds the client secret) goes here. */
  dataDir: string;
  logFile: string;
}

export interface TemporalUiHandle {
  url: string;
  pid: number;
  stop(): Promise<void>;
  exited: Promise<number | null>;
}

/** The UI server's configuration (server/config/config.go of the module): JSON, which its YAML loader reads. */
export function temporalUiConfig(o: TemporalUiOptions): Record<string, unknown> {
  const url = temporalUiUrl(o.port);
  return {
    temporalGrpcAddress: o.temporalAddress,
    host: '127.0.0.1',
    port: o.port,
    publicPath: '',
    enableUi: true,
    defaultNamespace: o.namespace,
    refreshInterval: '0s',
    // Nothing is fetched from temporal.io: the cluster runs on a closed network too.
    disableNewsFetch: true,
    cors: {
      allowOrigins: [url],
      unsafeAllowAllOrigins: false,
      // Plain http on loopback: the CSRF cookie cannot be Secure there.
      cookieInsecure: true,
    },
    // A lead ends only by its own commands: its workflow refuses cancellation, and the reconciler restarts a
    // terminated one from its log. The UI offers neither (a setting of the UI only: Temporal's API still takes them).
    workflowCancelDisabled: true,
    workflowTerminateDisabled: true,
    // Read-only: the UI server itself refuses every call but reads and queries. A lead's commands go through the API,
    // which checks the caller's role and office and audits them; an Update, signal, reset or start sent from the UI
    // would go round both (Temporal's frontend here has no authorizer).
    disableWriteActions: true,
    auth: {
      enabled: true,
      // Straight to the provider's sign-in page: the UI's own page would only show a button leading there.
      redirectToProvider: true,
      providers: [
        {
          label: 'Leadline sign-in',
          type: 'oidc',
          providerUrl: o.auth.issuer,
          clientId: o.auth.clientId,
          clientSecret: o.auth.clientSecret,
          // `leads`: the API's scope at the provider, with the resource indicator below.
          scopes: ['openid', 'profile', 'leads'],
          callbackUrl: `${url}/auth/sso/callback`,
          // Query parameters of the authorization request.
          options: { resource: o.auth.audience },
        },
      ],
    },
    codec: { endpoint: o.codecEndpoint, passAccessToken: true, includeCredentials: false },
    forwardHeaders: [],
    hideLogs: false,
  };
}

/** Writes the configuration, starts the UI server in a process group of its own, and waits for its /healthz. */
export async function startTemporalUi(o: TemporalUiOptions): Promise<TemporalUiHandle> {
  mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
  // `--env leadline` reads leadline.yaml from the config folder (and base.yaml, which is not written).
  writeFileSync(join(o.dataDir, 'leadline.yaml'), `${JSON.stringify(temporalUiConfig(o), null, 2)}\n`, {
    mode: 0o600,
  });
  const log = openSync(o.logFile, 'a');
  const child: ChildProcess = spawn(o.binary, ['--root', o.dataDir, '--config', '.', '--env', 'leadline', 'start'], {
    stdio: ['ignore', log, log],
    // Its own process group: Ctrl-C in a terminal reaches whoever started it, which stops it in order.
    detached: true,
  });
  closeSync(log);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = temporalUiUrl(o.port);
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const early = await Promise.race([exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 200))]);
    if (early !== 'running') {
      throw new Error(
        `the Temporal UI server exited with code ${early} during start-up (see ${o.logFile}; is port ${o.port} free?)`,
      );
    }
    const healthy = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) }).then(
      (response) => response.ok,
      () => false,
    );
    if (healthy) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the Temporal UI server did not answer on ${url} within 30 s (see ${o.logFile})`);
    }
  }
  return { url, pid: child.pid ?? -1, stop, exited };
}

/** Where the UI of `startSignedInTemporalUi` is: its CORS origin at the API, set before the API starts. */
export function temporalUiUrl(port: number): string {
  return `http://127.0.0.1:${port}`;
}

export interface SignedInTemporalUi {
  ui: TemporalUiHandle;
  codec: CodecTlsFront;
  /** The UI first, then the codec's TLS front. */
  stop(): Promise<void>;
}

/**
 * The Temporal UI as `npm run cluster` and `LEADLINE_TEMPORAL_UI=server npm start` run it: the API's codec behind a TLS
 * front on loopback (the UI sends tokens to https only), then the UI server signing people in as `client` at `issuer`,
 * decoding there with their token.
 */
export async function startSignedInTemporalUi(o: {
  binary: string;
  temporalAddress: string;
  namespace: string;
  uiPort: number;
  /** The codec's TLS front; 0: a free port. */
  codecPort: number;
  /** The API, where the front forwards the codec's requests (its CORS must allow temporalUiUrl(uiPort)). */
  apiUrl: string;
  issuer: string;
  audience: string;
  client: { clientId: string; secret: string };
  /** The UI's config (with the client secret), the front's certificate and the UI's log go here. */
  dir: string;
}): Promise<SignedInTemporalUi> {
  const codec = await startCodecTlsFront({
    apiUrl: o.apiUrl,
    port: o.codecPort,
    tlsDir: join(o.dir, 'codec-tls'),
    uiUrl: temporalUiUrl(o.uiPort),
  });
  try {
    const ui = await startTemporalUi({
      binary: o.binary,
      temporalAddress: o.temporalAddress,
      namespace: o.namespace,
      port: o.uiPort,
      auth: { issuer: o.issuer, clientId: o.client.clientId, clientSecret: o.client.secret, audience: o.audience },
      codecEndpoint: codec.endpoint,
      dataDir: join(o.dir, 'temporal-ui'),
      logFile: temporalUiLogFile(o.dir),
    });
    return {
      ui,
      codec,
      async stop() {
        await ui.stop();
        await codec.stop();
      },
    };
  } catch (error) {
    await codec.stop();
    throw error;
  }
}

/** The UI server's log, in the folder given to `startSignedInTemporalUi`. */
export function temporalUiLogFile(dir: string): string {
  return join(dir, 'temporal-ui.log');
}

/**
 * The UI server's confidential client at the OpenID provider: with the development provider (`identities`), its web
 * client TEMPORAL_UI_OIDC_CLIENT_ID (default `temporal-ui`) of config/dev-identities.json; with the agency's
 * (`identities` null), TEMPORAL_UI_OIDC_CLIENT_ID and TEMPORAL_UI_OIDC_CLIENT_SECRET. A string says why there is none.
 */
export function temporalUiClient(
  cfg: Pick<LeadlineEnv, 'TEMPORAL_UI_OIDC_CLIENT_ID' | 'TEMPORAL_UI_OIDC_CLIENT_SECRET'>,
  identities: DevIdentities | null,
): { clientId: string; secret: string } | string {
  if (identities !== null) {
    const clientId = cfg.TEMPORAL_UI_OIDC_CLIENT_ID ?? 'temporal-ui';
    return (
      identities.webClients.find((c) => c.clientId === clientId) ??
      `config/dev-identities.json has no web client ${clientId}`
    );
  }
  const [clientId, secret] = [cfg.TEMPORAL_UI_OIDC_CLIENT_ID, cfg.TEMPORAL_UI_OIDC_CLIENT_SECRET];
  return clientId && secret
    ? { clientId, secret }
    : 'set TEMPORAL_UI_OIDC_CLIENT_ID and TEMPORAL_UI_OIDC_CLIENT_SECRET (its confidential client at LEADLINE_OIDC_ISSUER)';
}

/** The start-up lines that say where the UI is, how it signs in, and the one step a browser needs for decoding. */
export function temporalUiStartLines(o: {
  started: SignedInTemporalUi;
  issuer: string;
  clientId: string;
  apiUrl: string;
  dir: string;
}): string[] {
  const { ui, codec } = o.started;
  return [
    `Temporal UI     ${ui.url} (UI server ${TEMPORAL_UI_VERSION}, pid ${ui.pid}; signs in at ${o.issuer} as ` +
      `${o.clientId}; read-only, HQ HSTU and admins only; log ${temporalUiLogFile(o.dir)})`,
    `Codec for UI    ${codec.endpoint} -> ${o.apiUrl}/codec with the signed-in user's token (HQ and admins ` +
      `only, each decode audited); its certificate is self-signed (${codec.certFile}): open ${codec.origin}/ ` +
      'once in your browser and accept it, or the UI shows ciphertext',
  ];
}
