/**
 * The console's files, served by the API on its own origin: the page, its bundle and stylesheet (built into
 * dist/console by `npm install`, see scripts/build-console.mjs), and the sign-in settings the page starts from.
 * None of them holds anything about a lead, so they are public; everything the page shows comes from the API,
 * with the bearer token the person got from the OpenID provider (authorization code with PKCE).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { extname, join } from 'node:path';
import type { FastifyPluginCallback } from 'fastify';
import { packagePath } from '../../activities/package-files';
import { problem, sendProblem } from './problems';

export interface ConsoleOptions {
  /** The OpenID provider people sign in at. */
  issuer: string;
  /** The console's client id at that provider: a public client, authorization code with PKCE. */
  clientId: string;
  /** The resource indicator the API's tokens are for. */
  audience: string;
  /** Where the built files are; dist/console by default. */
  directory?: string;
}

export const DEFAULT_CONSOLE_CLIENT_ID = 'leadline-console';
const DEFAULT_DIRECTORY = packagePath('dist/console/');
/** The console's paths, public like the API's description: the page and its code carry no data. */
export const CONSOLE_PATHS = /^\/(console(\/[\w.-]*)?)?$/;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

function loadAssets(directory: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  let names: string[];
  try {
    names = readdirSync(directory);
  } catch {
    return assets;
  }
  for (const name of names) {
    const type = TYPES[extname(name)];
    if (type === undefined) continue;
    const body = readFileSync(join(directory, name));
    assets.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  }
  return assets;
}

/** The page may talk to its own origin and to the provider's token endpoint, and run only its own script. */
function contentSecurityPolicy(issuer: string): string {
  const provider = new URL(issuer).origin;
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self' ${provider}`,
    `form-action 'self' ${provider}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
  ].join('; ');
}

export function consoleRoutes(options: ConsoleOptions): FastifyPluginCallback {
  const assets = loadAssets(options.directory ?? DEFAULT_DIRECTORY);
  const csp = contentSecurityPolicy(options.issuer);
  const settings = { issuer: options.issuer, clientId: options.clientId, audience: options.audience };
  return (app, _options, done) => {
    const hidden = { schema: { hide: true } };
    app.get('/', hidden, (_request, reply) => reply.redirect('/console/', 302));
    app.get('/console', hidden, (_request, reply) => reply.redirect('/console/', 301));
    app.get('/console/config.json', hidden, (_request, reply) =>
      reply.header('cache-control', 'no-store').send(settings),
    );
    app.get<{ Params: { file?: string } }>('/console/:file', hidden, (request, reply) => {
      const name = request.params.file === undefined || request.params.file === '' ? 'index.html' : request.params.file;
      const asset = assets.get(name);
      if (asset === undefined) {
        if (assets.size === 0) {
          return sendProblem(
            reply,
            problem(
              'notReady',
              'the console is not built here: run `npm run console:build` (npm install does)',
              request,
            ),
          );
        }
        return sendProblem(reply, problem('routeNotFound', `no console file ${name}`, request));
      }
      void reply
        .header('content-type', asset.type)
        .header('etag', asset.etag)
        // The page is always asked for again, so a new bundle is picked up; the bundle revalidates by its tag.
        .header('cache-control', name === 'index.html' ? 'no-store' : 'no-cache')
        .header('content-security-policy', csp)
        .header('referrer-policy', 'no-referrer');
      if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
      return reply.send(asset.body);
    });
    done();
  };
}
