import { writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { UNASSIGNED } from '../domain/sla-simulation';
import { OfficeId } from '../schemas/lead';
import { Duration, type SlaPolicy } from '../schemas/sla-policy';
import { SimulationInputError, simulatePolicies } from '../activities/policy-simulation';
import { loadSlaPolicy, readEnv } from '../activities/config';
import { openDatabase } from './database';
import type { AdminExitCode } from './io';
import { formatReport } from './simulate-report';
import { slaChartSvg } from './sla-chart';

export { SIMULATOR_FIELDS, type SimulationReport } from '../activities/policy-simulation';

/*
 * `leadline simulate`: the SLA policy simulator's I/O. It reads the clock's facts from `lead_events` in one read-only
 * transaction and replays them with the pure simulator (domain/sla-simulation.ts). It never asks for a sealed field:
 * the query names the plain ones it needs (times, budgets, priorities, offices, stages, levels), and the pool it
 * reads through has no keyring bound, so nothing sealed could be opened even by mistake.
 */

export interface SimulateOptions {
  /** The proposed policy's file. */
  policy: string;
  /** The policy in force's file; unset: LEADLINE_SLA_POLICY, else the defaults (as the worker loads it). */
  inForce?: string;
  /** Only leads received within this window before the as-of instant, e.g. `90d`. */
  since?: string;
  office?: string;
  /** Replay up to this instant; unset: now, or the log's latest event when that is later. */
  asOf?: string;
  /** Where to draw the comparison (SVG). */
  chart?: string;
  json?: boolean;
}

export interface SimulateIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** `leadline simulate`. Exit codes: 0 done, 2 could not run (a bad policy or option, the database unreachable). */
export async function runSimulate(
  env: NodeJS.ProcessEnv,
  io: SimulateIo,
  options: SimulateOptions,
): Promise<AdminExitCode> {
  try {
    const cfg = readEnv(env);
    const inForce = policyFrom('the policy in force', options.inForce ?? cfg.LEADLINE_SLA_POLICY, cfg);
    const proposed = policyFrom(`--policy ${options.policy}`, options.policy, cfg);
    const office = officeOption(options.office);
    const window = options.since === undefined ? undefined : durationOption('--since', options.since);
    const asOfOption = options.asOf === undefined ? undefined : instantOption('--as-of', options.asOf);
    if (options.chart !== undefined && !options.chart.toLowerCase().endsWith('.svg')) {
      throw new Error(`--chart ${options.chart}: only SVG is drawn (name the file .svg); PNG is not supported`);
    }
    const db = await openDatabase(cfg, io.err, { keyring: false });
    try {
      const report = await simulatePolicies(db.pool, {
        inForce,
        proposed,
        ...(window === undefined ? {} : { windowMs: window }),
        ...(office === undefined ? {} : { office }),
        ...(asOfOption === undefined ? {} : { asOfMs: asOfOption }),
      }).catch((error: unknown) => {
        // The option as the person typed it, not as the shared code names it.
        if (error instanceof SimulationInputError && options.asOf !== undefined) {
          throw new Error(error.message.replace(/^asOf: \S+/, `--as-of: ${options.asOf}`));
        }
        throw error;
      });
      if (options.chart !== undefined) {
        await writeFile(options.chart, slaChartSvg(report));
      }
      io.out(options.json === true ? JSON.stringify(report, null, 2) : formatReport(report, options.chart));
      return 0;
    } finally {
      await db.close();
    }
  } catch (error) {
    io.err(`error: ${(error as Error).message ?? String(error)}`);
    return 2;
  }
}

function policyFrom(label: string, file: string | undefined, cfg: ReturnType<typeof readEnv>): SlaPolicy {
  try {
    // As the worker reads LEADLINE_SLA_POLICY, LEADLINE_SLA_TIME_SCALE on top, so both policies run on one clock.
    return loadSlaPolicy({ LEADLINE_SLA_POLICY: file, LEADLINE_SLA_TIME_SCALE: cfg.LEADLINE_SLA_TIME_SCALE });
  } catch (error) {
    throw new Error(`${label}: ${(error as Error).message}`);
  }
}

function officeOption(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value === 'unassigned' || value === UNASSIGNED) return UNASSIGNED;
  const parsed = OfficeId.safeParse(value);
  if (!parsed.success) {
    throw new Error(`--office: ${parsed.error.issues[0]?.message ?? 'not an office id'} (or "unassigned")`);
  }
  return parsed.data;
}

function durationOption(name: string, value: string): number {
  const parsed = Duration.safeParse(/^\d+$/.test(value) ? Number(value) : value);
  if (!parsed.success) throw new Error(`${name}: ${parsed.error.issues[0]?.message ?? 'not a duration'}`);
  return parsed.data;
}

function instantOption(name: string, value: string): number {
  const ms = Date.parse(value);
  if (!z.iso.datetime({ offset: true }).safeParse(value).success || Number.isNaN(ms)) {
    throw new Error(`${name}: expected an ISO 8601 instant such as 2026-12-01T00:00:00Z`);
  }
  return ms;
}
