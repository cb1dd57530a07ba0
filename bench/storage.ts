import type pg from 'pg';

/** What PostgreSQL holds at one moment: Leadline's leads and database, and Temporal's databases when they share the server. */
export interface StorageSnapshot {
  leads: number;
  leadlineBytes: number;
  /** Temporal Server's `temporal` and `temporal_visibility` databases; undefined on the dev server (SQLite). */
  temporalBytes: number | undefined;
}

export async function storageSnapshot(pool: pg.Pool): Promise<StorageSnapshot> {
  const { rows } = await pool.query<{ leads: string; leadline: string; temporal: string | null }>(
    `SELECT (SELECT count(*) FROM leads) AS leads,
            pg_database_size(current_database()) AS leadline,
            (SELECT sum(pg_database_size(datname)) FROM pg_database
              WHERE datname IN ('temporal', 'temporal_visibility')) AS temporal`,
  );
  const row = rows[0];
  if (row === undefined) throw new Error('no storage figures');
  return {
    leads: Number(row.leads),
    leadlineBytes: Number(row.leadline),
    temporalBytes: row.temporal === null ? undefined : Number(row.temporal),
  };
}

/** Bytes each lead added between two snapshots (database files, not WAL), for the capacity model (docs/capacity.md). */
export function bytesPerLead(before: StorageSnapshot, after: StorageSnapshot) {
  const leads = after.leads - before.leads;
  const per = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined || leads <= 0 ? Number.NaN : Math.round((b - a) / leads);
  return {
    leads,
    leadline_bytes_per_lead: per(before.leadlineBytes, after.leadlineBytes),
    temporal_bytes_per_lead: per(before.temporalBytes, after.temporalBytes),
  };
}
