// `npm run demo`: the whole stack on a scaled SLA policy (an hour of policy time passes in two seconds),
// a handful of sample leads, some walked through their life, and every warning and escalation printed
// as it happens. Its own data folder and ports, so it runs beside `npm start`. Ctrl-C ends it early.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readEnv } from '../activities/config';
import { startLeadline } from '../worker/leadline';

const root = fileURLToPath(new URL('..', import.meta.url));
const seconds = Number(process.env.DEMO_SECONDS ?? 90);
const cfg = readEnv({
  PORT: '3001',
  TEMPORAL_DEV_PORT: '7243',
  TEMPORAL_UI_PORT: '8243',
  EMBEDDED_POSTGRES_PORT: '5434',
  LEADLINE_OIDC_DEV_PORT: '3011',
  LEADLINE_DATA_DIR: join(root, '.data', 'demo'),
  LEADLINE_SLA_TIME_SCALE: '1800',
  LOG_LEVEL: 'silent',
  ...process.env,
  // The demo is the whole system in one process, whatever the shell says.
  LEADLINE_ROLE: 'all',
});
// The demo's story is told in plain lines; the stack's own logs stay quiet unless LOG_LEVEL asks for them.
const leadline = await startLeadline(cfg);
const stop = async () => {
  clearInterval(watcher);
  await summarise().catch((error: Error) => console.log(`(no summary: ${error.message})`));
  await leadline.stop();
  process.exit(0);
};
process.removeAllListeners('SIGINT');
process.on('SIGINT', () => void stop());

const { leads, pool } = leadline;
const started = Date.now();
const clock = () => `+${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s`;
const dir = join(root, 'test', 'fixtures', 'leads');
const samples = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({
    name: f.replace(/\.json$/, ''),
    intake: JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, unknown>,
  }));

console.log(
  `\nDemo: SLA time scale ${leadline.policy.timeScale} (1 h of policy time = ${(3600 / leadline.policy.timeScale).toFixed(1)} s).`,
);
console.log(
  `Watch in the Temporal UI at ${leadline.temporalUiUrl ?? leadline.temporalAddress}, or the API at ${leadline.apiUrl ?? ''}/leads\n`,
);

let seenSeq = 0;
const watcher = setInterval(() => {
  void pool
    .query<{ id: number; lead_id: string; type: string; data: { level?: number; stage?: string } }>(
      `SELECT e.recorded_at, row_number() OVER (ORDER BY e.recorded_at, e.lead_id, e.seq)::int AS id, e.lead_id, e.type, e.data
         FROM lead_events e WHERE e.type IN ('SlaWarning', 'LeadEscalated') ORDER BY id`,
    )
    .then(({ rows }) => {
      for (const row of rows.slice(seenSeq)) {
        const what = row.type === 'SlaWarning' ? 'warning' : `ESCALATED to level ${row.data.level}`;
        console.log(`${clock()}  lead ${row.lead_id.slice(0, 8)}  ${what} (stage ${row.data.stage})`);
      }
      seenSeq = rows.length;
    });
}, 500);

const run = Date.now().toString(36);
const submitted: { name: string; leadId: string }[] = [];
for (const { name, intake } of samples) {
  const receipt = await leads.submitLead({ ...intake, externalReference: `DEMO-${run}-${name}` } as never, {
    actor: 'demo',
  });
  submitted.push({ name, leadId: receipt.leadId });
  console.log(`${clock()}  submitted ${name} as lead ${receipt.leadId.slice(0, 8)}`);
}
await new Promise((r) => setTimeout(r, 1500));
for (const { name, leadId } of submitted) {
  const view = await leads.getLead(leadId);
  console.log(
    `${clock()}  lead ${leadId.slice(0, 8)} (${name}) is ${view.state.status}${view.state.office ? ` at ${view.state.office}` : ''}, priority ${view.state.priority}`,
  );
}
const walk = submitted.find((s) => s.name === 'newark-interview-request');
if (walk) {
  const actor = { actor: 'demo:agent' };
  await leads.command(
    walk.leadId,
    'RequestInterview',
    {
      scheduledFor: new Date(Date.now() + 86_400_000).toISOString(),
      place: 'field office',
      interpreterLanguage: 'vi',
      victimSpecialist: true,
    },
    actor,
  );
  console.log(`${clock()}  lead ${walk.leadId.slice(0, 8)}: interview requested`);
  await new Promise((r) => setTimeout(r, 3000));
  await leads.command(walk.leadId, 'CompleteInterview', { outcome: 'victim_identified' }, actor);
  await leads.command(walk.leadId, 'OpenCase', { caseNumber: `HSI-NWK-DEMO-${run.toUpperCase()}` }, actor);
  console.log(`${clock()}  lead ${walk.leadId.slice(0, 8)}: interview completed, case opened — it never escalates`);
}
const ack = submitted.find((s) => s.name === 'public-unknown-jurisdiction');
if (ack) {
  setTimeout(() => {
    void leads
      .command(ack.leadId, 'AcknowledgeEscalation', { note: 'HQ duty desk is on it' }, { actor: 'demo:hq' })
      .then(() =>
        console.log(`${clock()}  lead ${ack.leadId.slice(0, 8)}: HQ acknowledged the escalation (ladder held)`),
      )
      .catch((error: Error) => console.log(`${clock()}  acknowledge refused: ${error.message}`));
  }, 60_000);
}
console.log(`${clock()}  waiting ${seconds} s for the clocks (Ctrl-C to stop sooner)...`);

/** The demo's last word: where its leads ended up, and what the clocks and notices did meanwhile. */
async function summarise() {
  const ids = submitted.map((s) => s.leadId);
  const { rows: statuses } = await pool.query<{ status: string; n: number }>(
    'SELECT status, count(*)::int AS n FROM leads WHERE lead_id = ANY($1) GROUP BY status ORDER BY status',
    [ids],
  );
  const { rows: clocks } = await pool.query<{ warnings: number; escalations: number; top: number | null }>(
    `SELECT count(*) FILTER (WHERE type = 'SlaWarning')::int AS warnings,
            count(*) FILTER (WHERE type = 'LeadEscalated')::int AS escalations,
            max((data->>'level')::int) FILTER (WHERE type = 'LeadEscalated') AS top
       FROM lead_events WHERE lead_id = ANY($1)`,
    [ids],
  );
  const { rows: notices } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM notifications WHERE lead_id = ANY($1) AND status = 'delivered'`,
    [ids],
  );
  const c = clocks[0];
  console.log(`\nSummary after ${clock().trim()}: ${submitted.length} leads submitted`);
  console.log(`  status       ${statuses.map((s) => `${s.n} ${s.status}`).join(', ') || 'none recorded'}`);
  console.log(
    `  SLA clocks   ${c?.warnings ?? 0} warnings, ${c?.escalations ?? 0} escalations` +
      (c?.top ? ` (highest level ${c.top})` : ''),
  );
  console.log(`  notices      ${notices[0]?.n ?? 0} delivered (log channel; LOG_LEVEL=info prints them)`);
}
setTimeout(() => void stop(), seconds * 1000);
