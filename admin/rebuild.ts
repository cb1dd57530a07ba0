import type pg from 'pg';
import { readEnv } from '../activities/config';
import { rebuildReadModel } from '../activities/event-store';
import { fieldCryptoFor } from '../activities/field-crypto';
import { projectLead } from '../activities/lead-activities';
import { openDatabase } from './database';
import { formatDifference, type Difference } from './differences';
import { adminActor, guarded, plural, type AdminExitCode, type AdminIo } from './io';
import { inReadOnlySnapshot } from '../activities/db';
import { diffImages, imageOfEvents, readEvents, readLogVersions, readRows } from './lead-rows';

export interface RebuildReport {
  /** Rows of the live read model just before the rebuild. */
  live: number;
  /** Leads the rebuild wrote and events it folded. */
  leads: number;
  events: number;
  /** Leads that took new events between the snapshot and the rebuild; compared at the snapshot's version. */
  movedOn: number;
  differences: Difference[];
}

/**
 * Snapshots the live `leads` rows (every column but `updated_at`), rebuilds the table from `lead_events`
 * with `projectLead` (the live path's fold), and compares the two row by row.
 *
 * The rebuild is in place. `rebuildReadModel` is one transaction under an EXCLUSIVE lock: readers keep
 * seeing the old rows until it commits, appends wait for it, and a failure leaves the live rows untouched,
 * so a shadow table would add no safety. Swapping a shadow table in by rename would: `overdue_leads` and
 * the grants follow the old table, and the application role may not rename it. The snapshot keeps what the
 * live rows were, for the report.
 */
export async function rebuildAndCompare(pool: pg.Pool, options: { actor?: string } = {}): Promise<RebuildReport> {
  const crypto = fieldCryptoFor(pool);
  const before = await inReadOnlySnapshot(pool, async (client) => ({
    rows: await readRows(client, crypto),
    logVersions: await readLogVersions(client),
  }));
  const { leads, events } = await rebuildReadModel(pool, projectLead, { actor: options.actor ?? 'system:rebuild' });
  const after = await readRows(pool, crypto);

  const differences: Difference[] = [];
  let movedOn = 0;
  const views = ['live', 'rebuilt'] as const;
  for (const leadId of [...new Set([...before.rows.keys(), ...before.logVersions.keys()])].sort()) {
    const live = before.rows.get(leadId);
    const version = before.logVersions.get(leadId);
    if (version === undefined) {
      differences.push({ leadId, views, field: 'row', values: [`version ${live?.version}`, '(absent: no events)'] });
      continue;
    }
    if (live === undefined) {
      differences.push({ leadId, views, field: 'row', values: ['(absent)', `version ${version}`] });
      continue;
    }
    let expected = after.get(leadId);
    // Appends resume once the rebuild commits; a lead that moved on is compared with its log at the snapshot.
    if (expected?.version !== version) {
      movedOn++;
      expected = imageOfEvents(crypto, leadId, await readEvents(pool, crypto, leadId, version));
    }
    differences.push(...diffImages(leadId, views, live, expected));
  }
  return { live: before.rows.size, leads, events, movedOn, differences };
}

/** `npm run leads:rebuild` and `leadline rebuild`. */
export async function runRebuild(
  env: NodeJS.ProcessEnv,
  io: AdminIo,
  options: { actor?: string } = {},
): Promise<AdminExitCode> {
  return guarded(io, async () => {
    const db = await openDatabase(readEnv(env), io.err);
    try {
      const report = await rebuildAndCompare(db.pool, { actor: options.actor ?? adminActor(env) });
      io.out(`live read model: ${report.live} rows; rebuilt ${report.leads} leads from ${report.events} events`);
      if (report.movedOn > 0) {
        io.out(`${report.movedOn} leads took new events during the rebuild: compared at the version first read`);
      }
      for (const difference of report.differences) io.out(formatDifference(difference));
      const leads = new Set(report.differences.map((d) => d.leadId)).size;
      io.out(
        report.differences.length === 0
          ? `0 differences: the rebuilt read model equals the live one across ${report.leads} leads`
          : `${plural(report.differences.length, 'difference')} in ${plural(leads, 'lead')}: the rebuilt rows replaced the live ones`,
      );
      return report.differences.length === 0 ? 0 : 1;
    } finally {
      await db.close();
    }
  });
}
