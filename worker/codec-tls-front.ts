import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

/*
 * The API's codec server over TLS, on loopback, for the Temporal UI server of `npm run cluster` and
 * `LEADLINE_TEMPORAL_UI=server npm start`: the UI (2.54.1) passes the signed-in user's access token only to an https
 * codec endpoint (with http it sends none and shows ciphertext). It forwards /codec/encode and /codec/decode to the API
 * as they come (the API authenticates, decides, audits and answers CORS for the UI's origin); anything else is 404.
 * The certificate is self-signed for 127.0.0.1 and localhost, made once with openssl into the data folder (the
 * cluster's, or npm start's): a browser accepts it once (or trusts cert.pem).
 */

export interface CodecTlsFront {
  /** The codec endpoint for the UI: https://127.0.0.1:<port>/codec. */
  endpoint: string;
  /** Its origin's page, where a browser accepts the certificate. */
  origin: string;
  certFile: string;
  stop(): Promise<void>;
}

const CODEC_PATH = /^\/codec\/(encode|decode)$/;

/**
 * A self-signed certificate for 127.0.0.1 and localhost in `dir` (cert.pem, key.pem readable by the owner only),
 * made with openssl when missing or expiring within a day.
 */
export async function loopbackCertificate(dir: string): Promise<{ cert: Buffer; key: Buffer; certFile: string }> {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  const usable = () => {
    if (!existsSync(certFile) || !existsSync(keyFile)) return false;
    const validTo = Date.parse(new X509Certificate(readFileSync(certFile)).validTo);
    return validTo > Date.now() + 86_400_000;
  };
  if (!usable()) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    rmSync(certFile, { force: true });
    rmSync(keyFile, { force: true });
    const args = [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '365',
      '-subj',
      '/CN=Leadline development codec endpoint',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ];
    await promisify(execFile)('openssl', args).catch((error: Error) => {
      throw new Error(
        `openssl could not make the codec endpoint's certificate (is openssl on PATH?): ${error.message}`,
      );
    });
  }
  return { cert: readFileSync(certFile), key: readFileSync(keyFile), certFile };
}

/** Listens on 127.0.0.1:`port` (0: a free one) and forwards the codec's two paths to `apiUrl`. */
export async function startCodecTlsFront(options: {
  apiUrl: string;
  port: number;
  tlsDir: string;
  /** Linked from the page at the origin's root, once the browser has accepted the certificate. */
  uiUrl?: string;
}): Promise<CodecTlsFront> {
  const { cert, key, certFile } = await loopbackCertificate(options.tlsDir);
  const api = new URL(options.apiUrl);
  const server: Server = createServer({ cert, key }, (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'https://front').pathname;
    if (CODEC_PATH.test(path)) {
      forward(req, res, api);
      return;
    }
    if (path === '/' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(acceptedPage(options.uiUrl));
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: only /codec/encode and /codec/decode\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => resolve());
  });
  const origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    endpoint: `${origin}/codec`,
    origin,
    certFile,
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function forward(req: IncomingMessage, res: ServerResponse, api: URL) {
  const upstream = httpRequest(
    {
      protocol: api.protocol,
      hostname: api.hostname,
      port: api.port,
      method: req.method,
      path: req.url,
      headers: { ...req.headers, host: api.host },
    },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on('error', (error) => {
    if (!res.headersSent) {
      res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `the API at ${api.origin} did not answer: ${error.message}` }));
    } else {
      res.destroy(error);
    }
  });
  req.pipe(upstream);
}

function acceptedPage(uiUrl: string | undefined): string {
  const back = uiUrl === undefined ? '' : `<p><a href="${encodeURI(uiUrl)}">Back to the Temporal UI</a></p>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Leadline codec endpoint (development)</title></head>
<body><main>
<h1>Leadline's codec endpoint</h1>
<p>This browser now accepts the development certificate of the codec endpoint, so the Temporal UI can send it your
token and show payloads decoded (HQ HSTU and administrators only; every decode is audited).</p>
${back}
</main></body></html>
`;
}
