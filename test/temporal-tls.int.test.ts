/**
 * TLS to a Temporal cluster (TEMPORAL_TLS_*): the dev server speaks plain gRPC, so a real TLS endpoint is put in front
 * of it here (Node's TLS server, mutual TLS, certificates made by openssl for this run), and Leadline's connections
 * (the client's and the worker's native one) reach Temporal through it, or are refused without the right files.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:tls';
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
}, 120_000);

afterAll(async () => {
  await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
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
