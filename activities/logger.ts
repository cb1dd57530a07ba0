import { pino, type Logger } from 'pino';

/*
 * Leadline's one log shape: pino's JSON lines (`level`, `time`, `name`, `msg`, then fields), for every process and
 * every part of it: start-up, the API, the worker and the Temporal SDK's own lines (worker/runtime.ts), the
 * reconciler, notifications. A person at a terminal gets the same lines printed plainly instead (`prettyLine`):
 * pretty only when stdout is a TTY, so files and pipes always receive JSON without colour codes. LEADLINE_LOG_PRETTY
 * (`1` or `0`) decides instead: a worker thread's stdout is never a TTY, so its process passes down what it saw.
 */

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface LoggerOptions {
  /** Unset: LOG_LEVEL from the environment, else `info`. */
  level?: LogLevel;
  /** The part of Leadline speaking (`leadline`, `api`, `temporal`, `notifications`, ...). */
  name?: string;
  /** Where the JSON lines go instead of stdout (a test collecting them, say). */
  write?: (line: string) => void;
}

const LEVELS = new Set<string>(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

function defaultLevel(): LogLevel {
  const level = process.env.LOG_LEVEL;
  return level !== undefined && LEVELS.has(level) ? (level as LogLevel) : 'info';
}

/** Whether stdout is read by a person: a TTY, unless LEADLINE_LOG_PRETTY says otherwise. */
export function prettyOutput(): boolean {
  const setting = process.env.LEADLINE_LOG_PRETTY;
  if (setting === '1' || setting === '0') return setting === '1';
  return process.stdout.isTTY === true;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const settings = {
    level: options.level ?? defaultLevel(),
    ...(options.name === undefined ? {} : { name: options.name }),
    // Host and pid on every line say nothing a process's own output needs.
    base: undefined,
  };
  const { write } = options;
  if (write !== undefined) return pino(settings, { write: (line: string) => write(line.trimEnd()) });
  if (prettyOutput()) return pino(settings, { write: (line: string) => process.stdout.write(prettyLine(line)) });
  return pino(settings, pino.destination({ fd: 1, sync: true }));
}

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/** A pino JSON line as a person reads it: `12:04:05 INFO  [api] request completed  statusCode=200 ...`. */
export function prettyLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const { level, time, name, msg, err, ...fields } = entry;
  const clock = typeof time === 'number' ? new Date(time).toISOString().slice(11, 19) : '--:--:--';
  const label = (LEVEL_NAMES[Number(level)] ?? String(level)).padEnd(5);
  const who = typeof name === 'string' ? `[${name}] ` : '';
  const extra = Object.entries(fields)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
  const stack =
    typeof (err as { stack?: unknown } | undefined)?.stack === 'string' ? `\n${(err as { stack: string }).stack}` : '';
  return `${clock} ${label} ${who}${typeof msg === 'string' ? msg : ''}${extra === '' ? '' : `  ${extra}`}${stack}\n`;
}
