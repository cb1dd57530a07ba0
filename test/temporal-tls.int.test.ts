/**
 * TLS to a Temporal cluster (TEMPORAL_TLS_*): the dev server speaks plain gRPC, so a real TLS endpoint is put in front
 * of it here (Node's TLS server, mutual TLS, certificates made by openssl for this run), and Leadline's connections
 * (the client's and the worker's native one) reach Temporal through it, or are refused without the right files.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:tls';
import {
  connect as http2Connect,
  createSecureServer,
  createServer as createHttp2Server,
  type Http2SecureServer,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { NativeConnection } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEnv, temporalConnectionOptions } from '../activities/config';
import { startDevServer } from './support/temporal';

const openssl = (dir: string, ...args: string[]) => promisify(execFile)('openssl', args, { cwd: dir });

let env: TestWorkflowEnvironment;
let dir: string;
let proxy: Server;
let address: string;
/** An HTTP/2 TLS endpoint in front of the dev server that serves only calls carrying the API key, as Temporal Cloud does. */
let keyed: Http2SecureServer;
let keyedAddress: string;
/** The same without TLS, for TEMPORAL_TLS=false. */
let plainKeyed: Http2Server;
let plainKeyedAddress: string;
const API_KEY = 'leadline-test-api-key';
const authorizationsSeen: (string | undefined)[] = [];
const keyedSessions = new Set<ServerHttp2Session>();
let closeUpstream = () => undefined as void;

beforeAll(async () => {
  env = await startDevServer();
  dir = await mkdtemp(join(tmpdir(), 'leadline-tls-'));
  // A CA, a server certificate for 127.0.0.1 and temporal.test, and a client certificate, all signed by the CA.
  await openssl(
    dir,
    ...'req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 -subj /CN=test-ca'.split(' '),
  );
  await writeFile(
    join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:temporal.test\nextendedKeyUsage=serverAuth\n',
  );
  await writeFile(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, cn] of [
    ['server', 'temporal.test'],
    ['client', 'leadline-worker'],
  ]) {
    await openssl(
      dir,
      ...`req -newkey rsa:2048 -nodes -keyout ${name}.key -out ${name}.csr -subj /CN=${cn}`.split(' '),
    );
    await openssl(
      dir,
      ...`x509 -req -in ${name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out ${name}.pem -days 1 -extfile ${name}.ext`.split(
        ' ',
      ),
    );
  }
  const [upstreamHost, upstreamPort] = env.address.split(':') as [string, string];
  proxy = createServer(
    {
      key: readFileSync(join(dir, 'server.key')),
      cert: readFileSync(join(dir, 'server.pem')),
      ca: readFileSync(join(dir, 'ca.pem')),
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2'],
    },
    (socket) => {
      const upstream = netConnect(Number(upstreamPort), upstreamHost);
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
    },
  );
  proxy.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  address = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;

  const upstream = http2Connect(`http://${env.address}`);
  keyed = createSecureServer({
    key: readFileSync(join(dir, 'server.key')),
    cert: readFileSync(join(dir, 'server.pem')),
  });
  plainKeyed = createHttp2Server();
  const serve = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    const authorization = headers.authorization;
    authorizationsSeen.push(authorization);
    if (authorization !== `Bearer ${API_KEY}`) {
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '16', 'grpc-message': 'API key required' },
        { endStream: true },
      );
      return;
    }
    const forwarded = Object.fromEntries(
      Object.entries(headers).filter(([name]) => name !== ':authority' && name !== ':scheme'),
    );
    const call = upstream.request(forwarded);
    let trailers: Record<string, string | string[] | undefined> = {};
    call.on('response', (response) => stream.respond(response, { waitForTrailers: true }));
    call.on('trailers', (t) => (trailers = t));
    stream.on('wantTrailers', () => stream.sendTrailers(trailers));
    stream.pipe(call);
    call.pipe(stream);
    call.on('error', () => stream.destroy());
    stream.on('error', () => call.destroy());
  };
  for (const server of [keyed, plainKeyed]) {
    server.on('stream', serve);
    server.on('session', (session) => keyedSessions.add(session));
  }
  closeUpstream = () => upstream.destroy();
  await new Promise<void>((resolve) => keyed.listen(0, '127.0.0.1', resolve));
  keyedAddress = `127.0.0.1:${(keyed.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => plainKeyed.listen(0, '127.0.0.1', resolve));
  plainKeyedAddress = `127.0.0.1:${(plainKeyed.address() as AddressInfo).port}`;
}, 120_000);

afterAll(async () => {
  await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
  // An HTTP/2 server closes once its sessions are gone: the clients' are ended here, and the one to the dev server.
  for (const session of keyedSessions) session.destroy();
  closeUpstream();
  await new Promise<void>((resolve) => (keyed ? keyed.close(() => resolve()) : resolve()));
  await new Promise<void>((resolve) => (plainKeyed ? plainKeyed.close(() => resolve()) : resolve()));
  await env?.teardown();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const tlsEnv = (extra: Record<string, string> = {}) =>
  readEnv({
    TEMPORAL_ADDRESS: address,
    TEMPORAL_TLS_CA: join(dir, 'ca.pem'),
    TEMPORAL_TLS_CERT: join(dir, 'client.pem'),
    TEMPORAL_TLS_KEY: join(dir, 'client.key'),
    ...extra,
  });

describe('TLS to Temporal', () => {
  it('the client connection reaches Temporal over mutual TLS', async () => {
    const connection = await Connection.connect(temporalConnectionOptions(tlsEnv(), address));
    try {
      const info = await connection.workflowService.getSystemInfo({});
      expect(info.capabilities).toBeDefined();
    } finally {
      await connection.close();
    }
  });

  it('the worker’s native connection does too, naming the server as its certificate does', async () => {
    const options = temporalConnectionOptions(tlsEnv({ TEMPORAL_TLS_SERVER_NAME: 'temporal.test' }), address);
    const connection = await NativeConnection.connect(options);
    try {
      const info = await connection.workflowService.getSystemInfo({});
      expect(info.capabilities).toBeDefined();
    } finally {
      await connection.close();
    }
  });

  it('is refused without the CA that signed the server, or without a client certificate', async () => {
    const withoutCa = {
      TEMPORAL_ADDRESS: address,
      TEMPORAL_TLS_CERT: join(dir, 'client.pem'),
      TEMPORAL_TLS_KEY: join(dir, 'client.key'),
    };
    const untrusted = temporalConnectionOptions(readEnv(withoutCa), address);
    await expect(
      Connection.connect({ ...untrusted, connectTimeout: '3 seconds' }).then((c) =>
        c.workflowService.getSystemInfo({}),
      ),
    ).rejects.toThrow();
    const anonymous = temporalConnectionOptions(
      readEnv({ TEMPORAL_ADDRESS: address, TEMPORAL_TLS_CA: join(dir, 'ca.pem') }),
      address,
    );
    await expect(
      Connection.connect({ ...anonymous, connectTimeout: '3 seconds' }).then((c) =>
        c.workflowService.getSystemInfo({}),
      ),
    ).rejects.toThrow();
  });

  it('names a missing half of a client certificate pair, and a file it cannot read', () => {
    expect(() => readEnv({ TEMPORAL_TLS_CERT: join(dir, 'client.pem') })).toThrow(
      /TEMPORAL_TLS_KEY: needed when TEMPORAL_TLS_CERT is set/,
    );
    expect(() => temporalConnectionOptions(readEnv({ TEMPORAL_TLS_CA: join(dir, 'missing.pem') }), address)).toThrow(
      /cannot read TEMPORAL_TLS_CA .*missing\.pem/,
    );
  });

  it('leaves a plain connection plain', () => {
    expect(temporalConnectionOptions(readEnv({}), address)).toEqual({ address });
  });
});

describe('an API key for Temporal (TEMPORAL_API_KEY)', () => {
  const keyEnv = (extra: Record<string, string> = {}) =>
    readEnv({ TEMPORAL_ADDRESS: keyedAddress, TEMPORAL_TLS_CA: join(dir, 'ca.pem'), ...extra });

  it('is sent by the client and by the worker’s native connection, over TLS', async () => {
    authorizationsSeen.length = 0;
    const options = temporalConnectionOptions(keyEnv({ TEMPORAL_API_KEY: API_KEY }), keyedAddress);
    const client = await Connection.connect(options);
    try {
      expect((await client.workflowService.getSystemInfo({})).capabilities).toBeDefined();
    } finally {
      await client.close();
    }
    const native = await NativeConnection.connect({
      ...options,
      tls: { ...(options.tls as object), serverNameOverride: 'temporal.test' },
    });
    try {
      expect((await native.workflowService.getSystemInfo({})).capabilities).toBeDefined();
    } finally {
      await native.close();
    }
    expect(authorizationsSeen.length).toBeGreaterThanOrEqual(2);
    expect(new Set(authorizationsSeen)).toEqual(new Set([`Bearer ${API_KEY}`]));
  });

  it('is refused without the key, or with another', async () => {
    authorizationsSeen.length = 0;
    for (const extra of [{}, { TEMPORAL_API_KEY: 'not-the-key' }] as Record<string, string>[]) {
      const options = temporalConnectionOptions(keyEnv(extra), keyedAddress);
      await expect(
        Connection.connect({ ...options, connectTimeout: '3 seconds' }).then((c) =>
          c.workflowService.getSystemInfo({}),
        ),
      ).rejects.toThrow();
    }
    // Refused by the endpoint for the key it saw, not for TLS: the calls reached it without one, then with the wrong one.
    expect(authorizationsSeen).toContain(undefined);
    expect(authorizationsSeen).toContain('Bearer not-the-key');
    expect(authorizationsSeen).not.toContain(`Bearer ${API_KEY}`);
  });

  it('turns TLS on unless TEMPORAL_TLS is false, and then really connects in clear', async () => {
    expect(temporalConnectionOptions(readEnv({ TEMPORAL_API_KEY: 'k' }), 'cloud:7233')).toEqual({
      address: 'cloud:7233',
      tls: true,
      apiKey: 'k',
    });
    authorizationsSeen.length = 0;
    const options = temporalConnectionOptions(
      readEnv({ TEMPORAL_ADDRESS: plainKeyedAddress, TEMPORAL_API_KEY: API_KEY, TEMPORAL_TLS: 'false' }),
      plainKeyedAddress,
    );
    expect(options).toEqual({ address: plainKeyedAddress, tls: false, apiKey: API_KEY });
    const client = await Connection.connect({ ...options, connectTimeout: '5 seconds' });
    try {
      expect((await client.workflowService.getSystemInfo({})).capabilities).toBeDefined();
    } finally {
      await client.close();
    }
    const native = await NativeConnection.connect(options);
    try {
      expect((await native.workflowService.getSystemInfo({})).capabilities).toBeDefined();
    } finally {
      await native.close();
    }
    expect(new Set(authorizationsSeen)).toEqual(new Set([`Bearer ${API_KEY}`]));
  });
});
