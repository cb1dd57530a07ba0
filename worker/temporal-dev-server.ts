import { spawn, type ChildProcess } from 'node:child_process';
import { Connection } from '@temporalio/client';
import { leadSearchAttributes } from '../workflows/messages';
import { temporalCliPath } from './temporal-binaries';

export interface DevServerOptions {
  dbFile: string;
  port: number;
  /**
   * The embedded UI's port; null: no embedded UI (`--headless`), as when Temporal's UI server serves the UI instead
   * (LEADLINE_TEMPORAL_UI=server).
   */
  uiPort: number | null;
  namespace: string;
  /** The codec server the embedded UI asks to decode payloads (the API's /codec); none: the UI shows ciphertext. */
  uiCodecEndpoint?: string;
  /** Where the server's own output goes; it is Temporal's, and holds no lead data. */
  logFile?: NodeJS.WritableStream;
}

export interface DevServerHandle {
  address: string;
  /** The embedded UI; null when headless. */
  uiUrl: string | null;
  stop(): Promise<void>;
}

function typeName(type: string): string {
  // The CLI wants Keyword, Int, Datetime...; the SDK says KEYWORD, INT, DATETIME.
  return type.charAt(0) + type.slice(1).toLowerCase();
}

/** Starts `temporal server start-dev` with a SQLite file, so workflows outlive a restart. */
export async function startTemporalDevServer(options: DevServerOptions): Promise<DevServerHandle> {
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    options.dbFile,
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    ...(options.uiPort === null
      ? ['--headless']
      : [
          '--ui-port',
          String(options.uiPort),
          ...(options.uiCodecEndpoint === undefined ? [] : ['--ui-codec-endpoint', options.uiCodecEndpoint]),
        ]),
    '--namespace',
    options.namespace,
    '--log-level',
    'warn',
    // JSON lines in temporal.log, as Leadline's own: no colour codes in a file.
    '--log-format',
    'json',
    // Measured by the bench: WAL and normal sync, and faster queue polling, took 1,000 simultaneous
    // escalations from p99 89 s to 1.2 s. WAL may lose the last transactions on power loss, not on a crash.
    '--sqlite-pragma',
    'journal_mode=wal',
    '--sqlite-pragma',
    'synchronous=normal',
    '--dynamic-config-value',
    'history.transferProcessorMaxPollRPS=1000',
    '--dynamic-config-value',
    'history.timerProcessorMaxPollRPS=1000',
    ...Object.values(leadSearchAttributes).flatMap((key) => [
      '--search-attribute',
      `${key.name}=${typeName(key.type)}`,
    ]),
  ];
  // A process group of its own: a terminal's Ctrl-C reaches Leadline alone, which stops this server after the worker
  // has drained (worker/leadline.ts), rather than from under it.
  const child: ChildProcess = spawn(temporalCliPath(), args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  if (options.logFile) {
    child.stdout?.pipe(options.logFile, { end: false });
    child.stderr?.pipe(options.logFile, { end: false });
  } else {
    child.stdout?.resume();
    child.stderr?.resume();
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const address = `127.0.0.1:${options.port}`;
  const deadline = Date.now() + 60_000;
  let lastError: unknown;
  for (;;) {
    const early = await Promise.race([exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 250))]);
    if (early !== 'running') {
      throw new Error(
        `the Temporal dev server exited with code ${early} during start-up (is port ${options.port} free?)`,
      );
    }
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await connection.workflowService.describeNamespace({ namespace: options.namespace });
        break;
      } finally {
        await connection.close();
      }
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the Temporal dev server did not answer on ${address} within 60 s: ${String(lastError)}`);
    }
  }
  return {
    address,
    uiUrl: options.uiPort === null ? null : `http://127.0.0.1:${options.uiPort}`,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
