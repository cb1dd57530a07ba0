import { execFile } from 'node:child_process';
import type pg from 'pg';
import { temporalCliPath } from '../../worker/temporal-binaries';
import { sleep } from '../stats';
import type { Cluster, Service } from './cluster';
import type { FaultWindow, PoisonOperation } from './history';
import type { Load } from './load';
import { sendPoison } from './poison';

/*
 * The nemesis: one fault at a time, injected from outside the system as an operator or an attacker would (SIGKILL
 * by pid, Temporal's own CLI, bytes on the wire). It knows the load only to pause it or to aim at leads it was
 * answered for; it reports when it struck and when the piece came back, nothing about the outcome.
 */

export const FAULTS = [
  'worker-kill-idle',
  'worker-kill-intake',
  'worker-kill-rungs',
  'api-kill',
  'temporal-kill',
  'postgres-kill',
  'postgres-freeze',
  'worker-outage',
  'worker-takeover',
  'cancel',
  'terminate',
  'poison',
] as const;
export type FaultName = (typeof FAULTS)[number];

/** `npm run faults -- --quick`: a worker kill while rungs fire, a cancel, a terminate, the poison bytes. */
export const QUICK_FAULTS: FaultName[] = ['worker-kill-rungs', 'cancel', 'terminate', 'poison'];

/**
 * `npm run faults -- --quick --temporal cluster`: one of two workers killed while rungs fire (the other takes its
 * leads), Temporal Server killed and restarted, a cancel, a terminate, the poison bytes.
 */
export const QUICK_CLUSTER_FAULTS: FaultName[] = ['worker-takeover', 'temporal-kill', 'cancel', 'terminate', 'poison'];

/** How long `postgres-freeze` stops PostgreSQL at least: past the load's 20 s wait for an answer. */
const FREEZE_SECONDS = 25;

export interface NemesisContext {
  cluster: Cluster;
  load: Load;
  pool: pg.Pool;
  tag: string;
  /** Seconds a killed process stays down before it is started again. */
  downSeconds: number;
  /** Seconds the worker stays down in `worker-outage`: long enough for rungs to fall due meanwhile. */
  outageSeconds: number;
  /** Leads cancelled or terminated per fault. */
  targets: number;
  say: (line: string) => void;
}

export interface Injected {
  window: FaultWindow;
  poison?: PoisonOperation[];
}

export async function inject(name: FaultName, ctx: NemesisContext): Promise<Injected> {
  const startedAt = Date.now();
  switch (name) {
    case 'worker-kill-idle': {
      // Idle: no request in flight and none sent while the worker dies and returns; rungs still fall due.
      ctx.load.pause();
      await ctx.load.drain();
      await sleep(2000);
      const window = await killAndRestart(name, ctx.cluster.worker, ctx.downSeconds, ctx);
      ctx.load.start();
      return { window };
    }
    case 'worker-kill-intake': {
      ctx.load.burst(30);
      await sleep(300);
      return { window: await killAndRestart(name, ctx.cluster.worker, ctx.downSeconds, ctx) };
    }
    case 'worker-kill-rungs': {
      await rungsFiring(ctx.pool, 60_000);
      return { window: await killAndRestart(name, ctx.cluster.worker, ctx.downSeconds, ctx) };
    }
    case 'worker-outage':
      return { window: await killAndRestart(name, ctx.cluster.worker, ctx.outageSeconds, ctx) };
    case 'worker-takeover': {
      // One of several workers dies while rungs fire and stays down as long as an outage: the others must work its
      // leads meanwhile, so rungs due then are measured from when they were due, not from its return.
      if (ctx.cluster.workers.length < 2) throw new Error('worker-takeover needs two workers or more (--workers 2)');
      await rungsFiring(ctx.pool, 60_000);
      const window = await killAndRestart(name, ctx.cluster.worker, ctx.outageSeconds, ctx);
      return { window: { ...window, takeoverDownAt: window.startedAt, takeoverBackAt: window.recoveredAt } };
    }
    case 'api-kill':
      return { window: await killAndRestart(name, ctx.cluster.api, ctx.downSeconds, ctx) };
    case 'temporal-kill':
      return { window: await killAndRestart(name, ctx.cluster.temporal, ctx.downSeconds, ctx) };
    case 'postgres-kill':
      return { window: await killAndRestart(name, ctx.cluster.postgres, ctx.downSeconds, ctx) };
    case 'postgres-freeze': {
      // A database that stops answering without closing anything: a stalled disk, a partition that drops packets. Longer
      // than the load waits for an answer (20 s), so without the services' deadlines requests would go unanswered.
      const { postgres } = ctx.cluster;
      if (postgres.freeze === undefined || postgres.thaw === undefined) throw new Error('postgres cannot be frozen');
      const seconds = Math.max(ctx.outageSeconds, FREEZE_SECONDS);
      ctx.say(`  SIGSTOP postgres (every process) for ${seconds} s`);
      try {
        await postgres.freeze();
        await sleep(seconds * 1000);
      } finally {
        await postgres.thaw();
      }
      ctx.say(`  postgres thawed after ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
      return { window: { name, startedAt, recoveredAt: Date.now() } };
    }
    case 'cancel':
    case 'terminate': {
      const targets = await openTargets(ctx, ctx.targets);
      for (const leadId of targets) {
        const args =
          name === 'cancel'
            ? ['workflow', 'cancel', '--workflow-id', `lead-${leadId}`]
            : ['workflow', 'terminate', '--workflow-id', `lead-${leadId}`, '--reason', 'fault suite'];
        const result = await temporalCli([...args, '--address', ctx.cluster.temporalAddress, '--namespace', 'default']);
        ctx.say(`  temporal workflow ${name} lead-${leadId}: ${result}`);
      }
      return { window: { name, startedAt, recoveredAt: Date.now(), targets } };
    }
    case 'poison': {
      const [target] = await openTargets(ctx, 1);
      if (target === undefined) throw new Error('no open lead to aim the poison commands at');
      const poison = await sendPoison({
        apiUrl: ctx.cluster.apiUrl,
        authorization: ctx.cluster.authorization,
        tag: ctx.tag,
        targetLeadId: target,
        timeoutMs: 20_000,
      });
      return { window: { name, startedAt, recoveredAt: Date.now(), targets: [target] }, poison };
    }
  }
}

async function killAndRestart(name: string, service: Service, downSeconds: number, ctx: NemesisContext) {
  const startedAt = Date.now();
  ctx.say(`  kill -9 ${service.name} (pid ${service.pid() ?? '?'})`);
  await service.kill9();
  await sleep(downSeconds * 1000);
  await service.start();
  const back = Date.now();
  ctx.say(`  ${service.name} back after ${((back - startedAt) / 1000).toFixed(1)} s (pid ${service.pid() ?? '?'})`);
  const window: FaultWindow = { name, startedAt, recoveredAt: back };
  if (service.name === 'worker' && name !== 'worker-takeover') {
    window.workerDownAt = startedAt;
    window.workerBackAt = back;
  }
  return window;
}

/** Waits until SLA events are being recorded (some in the last two seconds). */
async function rungsFiring(pool: pg.Pool, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { rows } = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM lead_events
        WHERE type IN ('SlaWarning', 'LeadEscalated') AND recorded_at > now() - interval '2 seconds'`,
    );
    if ((rows[0]?.n ?? 0) >= 2) return;
    await sleep(200);
  }
  throw new Error(`no SLA rung fired within ${timeoutMs / 1000} s: the policy or the load is off`);
}

/** Leads the load was answered for that are open in the read model, preferring assigned ones. */
async function openTargets(ctx: NemesisContext, n: number): Promise<string[]> {
  const candidates = [...ctx.load.openLeads()];
  const { rows } = await ctx.pool.query<{ lead_id: string; status: string }>(
    `SELECT lead_id, status FROM leads WHERE lead_id = ANY($1::uuid[]) AND status NOT IN ('closed', 'case_opened')
      ORDER BY (status = 'assigned') DESC, random() LIMIT $2`,
    [candidates, n],
  );
  return rows.map((r) => r.lead_id);
}

/** Runs the `temporal` CLI the project installs; resolves with a one-line outcome (never throws). */
function temporalCli(args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile(temporalCliPath(), args, { timeout: 20_000 }, (error, stdout, stderr) => {
      if (error === null) resolve('ok');
      else resolve(`failed (${(stderr || stdout || error.message).trim().split('\n')[0]?.slice(0, 160)})`);
    });
  });
}
