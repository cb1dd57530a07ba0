import { loadSlaPolicy, readEnv } from '../activities/config';
import { loadDirectory } from '../activities/directory';
import { notificationAdapters } from '../activities/notifications/adapters';
import { createNotificationDelivery } from '../activities/notifications/deliver';
import { createHealingNotifier } from '../activities/notifications/healing';
import { LeadId } from '../schemas/lead';
import { openDatabase } from './database';
import { createHealer, type RecoverResult } from './healer';
import { adminActor, type AdminIo } from './io';
import { openTemporal } from './temporal';

/* `leadline recover <leadId>`: the reconciler's healing (admin/healer.ts) for one lead, on an operator's command. */

/**
 * Exit codes: 0 the lead runs (it did, or it was restarted) or is finished; 1 no such lead in the log; 2 could not
 * run. The counter is left out: a CLI process serves no /metrics, so its healings show in the log line, the audit
 * log and HQ's notice.
 */
export async function runRecover(
  env: NodeJS.ProcessEnv,
  io: AdminIo,
  leadId: string,
  options: { actor?: string } = {},
): Promise<0 | 1 | 2> {
  try {
    if (!LeadId.safeParse(leadId).success) throw new Error('the lead id is not a UUID');
    const cfg = readEnv(env);
    const temporal = await openTemporal(cfg, io.err);
    try {
      const db = await openDatabase(cfg, io.err);
      try {
        const adapters = notificationAdapters(cfg);
        const healer = createHealer({
          pool: db.pool,
          client: temporal.client,
          taskQueue: cfg.LEADLINE_TASK_QUEUE,
          workflowTaskTimeoutSeconds: cfg.LEADLINE_WORKFLOW_TASK_TIMEOUT,
          policy: loadSlaPolicy(cfg),
          notifier: createHealingNotifier({
            directory: await loadDirectory(cfg.LEADLINE_DIRECTORY),
            delivery: createNotificationDelivery({ pool: db.pool, adapters }),
            channels: adapters.map((a) => a.channel),
            ...(cfg.LEADLINE_PUBLIC_URL ? { linkBase: cfg.LEADLINE_PUBLIC_URL } : {}),
          }),
          log: (level, message, fields) => io.err(`leadline: ${level}: ${message} ${JSON.stringify(fields)}`),
          actor: options.actor ?? adminActor(env),
        });
        const result = await healer.recover(leadId, { audit: 'always' });
        io.out(describeResult(result));
        return result.outcome === 'unknown' ? 1 : 0;
      } finally {
        await db.close();
      }
    } finally {
      await temporal.close();
    }
  } catch (error) {
    io.err(`error: ${(error as Error).message ?? String(error)}`);
    return 2;
  }
}

export function describeResult(result: RecoverResult): string {
  switch (result.outcome) {
    case 'running':
      return `lead ${result.leadId}: running; nothing to do`;
    case 'unknown':
      return `lead ${result.leadId}: no events in the log (workflow ${result.workflowWas}); nothing to restart from`;
    case 'finished':
      return `lead ${result.leadId}: ${result.status} in its log (workflow ${result.workflowWas}); nothing to restart`;
    case 'restarted':
      return (
        `lead ${result.leadId}: restarted from ${result.version} events (workflow was ${result.workflowWas}; ` +
        `status ${result.status}; policy ${result.policyVersion}${result.withIntake ? '; intake checks resume' : ''}; ` +
        `run ${result.runId})`
      );
    default: {
      const unreachable: never = result;
      return String(unreachable);
    }
  }
}
