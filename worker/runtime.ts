import { Runtime, type LogLevel as SdkLogLevel, type LogMetadata, type Logger as SdkLogger } from '@temporalio/worker';
import type { Logger } from 'pino';
import { createLogger, type LogLevel } from '../activities/logger';

/*
 * The Temporal SDK's Runtime, installed once per process. Its logger is Leadline's (pino, name `temporal`), and the
 * native core's lines are forwarded to it rather than printed by core itself (ANSI-coloured, a shape of their own).
 * The SDK would stop the worker on Ctrl-C by itself; `stop()` in worker/leadline.ts does it in order instead.
 */

const SDK_LEVELS = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;

/** The SDK's Logger interface over pino. An `error` in the metadata becomes pino's `err`, so its stack is kept. */
export function sdkLogger(logger: Logger): SdkLogger {
  const log = (level: SdkLogLevel, message: string, meta?: LogMetadata) => {
    const { error, ...fields } = meta ?? {};
    logger[SDK_LEVELS[level]]({ ...fields, ...(error === undefined ? {} : { err: error }) }, message);
  };
  return {
    log,
    trace: (message, meta) => log('TRACE', message, meta),
    debug: (message, meta) => log('DEBUG', message, meta),
    info: (message, meta) => log('INFO', message, meta),
    warn: (message, meta) => log('WARN', message, meta),
    error: (message, meta) => log('ERROR', message, meta),
  };
}

let installed = false;

/**
 * Installs the Runtime with Leadline's logger. LOG_LEVEL `info` keeps the SDK to its warnings (its info lines are a
 * worker's every state change); `debug` and `trace` show everything. `metricsAddress`: Prometheus on /metrics.
 */
export function installRuntime(level: LogLevel, metricsAddress?: string): void {
  if (installed) return;
  installed = true;
  const sdkLevel =
    level === 'debug' || level === 'trace' ? 'DEBUG' : level === 'info' || level === 'warn' ? 'WARN' : 'ERROR';
  const logger = createLogger({ name: 'temporal', level: level === 'silent' ? 'silent' : SDK_LEVELS[sdkLevel] });
  Runtime.install({
    shutdownSignals: [],
    logger: sdkLogger(logger),
    telemetryOptions: {
      logging: { filter: { core: sdkLevel, other: sdkLevel }, forward: {} },
      ...(metricsAddress === undefined ? {} : { metrics: { prometheus: { bindAddress: metricsAddress } } }),
    },
  });
}
