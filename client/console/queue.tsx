/**
 * The queue: the leads in the caller's scope, overdue first (the API's order), with what a supervisor scans for —
 * status, office, agent, priority, age, time left on the stage counting down, the rung reached and the next one —
 * and the filters of GET /leads. It asks again every few seconds, so a change shows without a reload.
 */
import { useState } from 'preact/hooks';
import { api, type LeadPage, type Me } from './api';
import { usePolled, useNow } from './live';
import type { OfficeNames } from './main';
import { duration, rungWords, statusWords, timeLeft } from './words';

const STATUSES = Object.keys(statusWords);

interface Filters {
  statuses: string[];
  office: string;
  priority: string;
  mine: boolean;
  unassigned: boolean;
  escalated: boolean;
  overdue: boolean;
  leadId: string;
  limit: number;
}

const OPEN = ['received', 'validated', 'assigned', 'interview_requested', 'interview_completed'];

export function queryOf(filters: Filters, cursor: string | null): string {
  const q = new URLSearchParams();
  if (filters.statuses.length > 0) q.set('status', filters.statuses.join(','));
  if (filters.office !== '') q.set('office', filters.office);
  if (filters.priority !== '') q.set('priority', filters.priority);
  if (filters.mine) q.set('mine', 'true');
  if (filters.unassigned) q.set('unassigned', 'true');
  if (filters.escalated) q.set('escalated', 'true');
  if (filters.overdue) q.set('overdue', 'true');
  if (filters.leadId.trim().length >= 4) q.set('leadId', filters.leadId.trim().toLowerCase());
  q.set('limit', String(filters.limit));
  if (cursor !== null) q.set('cursor', cursor);
  return q.toString();
}

export function Queue(props: {
  me: Me;
  officeName: OfficeNames;
  offices: Map<string, string>;
  onError: (error: unknown) => void;
}) {
  const { me, officeName } = props;
  const [filters, setFilters] = useState<Filters>({
    statuses: OPEN,
    office: '',
    priority: '',
    mine: false,
    unassigned: false,
    escalated: false,
    overdue: false,
    leadId: '',
    limit: 100,
  });
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const cursor = cursors[cursors.length - 1] ?? null;
  const query = queryOf(filters, cursor);
  const page = usePolled(() => api<LeadPage>(`/leads?${query}`), query, props.onError);
  const now = useNow();

  const set = (change: Partial<Filters>) => {
    setFilters({ ...filters, ...change });
    setCursors([null]);
  };
  const toggleStatus = (status: string, on: boolean) =>
    set({ statuses: on ? [...filters.statuses, status] : filters.statuses.filter((s) => s !== status) });
  const officeChoices = props.offices.size > 0 ? [...props.offices.keys()] : me.offices;

  return (
    <>
      <h1>Queue</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
        <fieldset>
          <legend>Status</legend>
          {STATUSES.map((status) => (
            <label key={status} class="check">
              <input
                type="checkbox"
                checked={filters.statuses.includes(status)}
                onChange={(e) => toggleStatus(status, e.currentTarget.checked)}
              />
              {statusWords[status]}
            </label>
          ))}
        </fieldset>
        <fieldset>
          <legend>Show only</legend>
          {me.roles.some((r) => r === 'agent' || r === 'supervisor' || r === 'sac') && (
            <label class="check">
              <input type="checkbox" checked={filters.mine} onChange={(e) => set({ mine: e.currentTarget.checked })} />
              Mine
            </label>
          )}
          <label class="check">
            <input
              type="checkbox"
              checked={filters.unassigned}
              onChange={(e) => set({ unassigned: e.currentTarget.checked })}
            />
            Unassigned
          </label>
          <label class="check">
            <input
              type="checkbox"
              checked={filters.escalated}
              onChange={(e) => set({ escalated: e.currentTarget.checked })}
            />
            Escalated
          </label>
          <label class="check">
            <input
              type="checkbox"
              checked={filters.overdue}
              onChange={(e) => set({ overdue: e.currentTarget.checked })}
            />
            Overdue
          </label>
        </fieldset>
        <div class="row">
          <label>
            Office
            <select value={filters.office} onChange={(e) => set({ office: e.currentTarget.value })}>
              <option value="">All in my scope</option>
              {officeChoices.map((id) => (
                <option key={id} value={id}>
                  {officeName(id)}
                </option>
              ))}
            </select>
          </label>
          <label>
            Priority
            <select value={filters.priority} onChange={(e) => set({ priority: e.currentTarget.value })}>
              <option value="">Any</option>
              <option value="urgent">Urgent</option>
              <option value="standard">Standard</option>
            </select>
          </label>
          <label>
            Lead id
            <input
              type="search"
              value={filters.leadId}
              placeholder="first characters"
              onInput={(e) => set({ leadId: e.currentTarget.value })}
            />
          </label>
          <label>
            Per page
            <select value={filters.limit} onChange={(e) => set({ limit: Number(e.currentTarget.value) })}>
              {[50, 100, 500].map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          </label>
        </div>
      </form>
      <p class="status-line" aria-live="polite" aria-atomic="true">
        {page.error !== null
          ? `Could not load the queue: ${page.error}`
          : page.value === null
            ? 'Loading…'
            : `${page.value.items.length} lead${page.value.items.length === 1 ? '' : 's'} on this page`}
      </p>
      {page.loadedAt !== null && <p class="muted">Updated {new Date(page.loadedAt).toLocaleTimeString()}</p>}
      {page.value !== null && (
        <div class="table-wrap">
          <table class="queue" data-testid="queue">
            <caption>Leads in your scope, overdue first, then the most escalated, then the nearest deadline</caption>
            <thead>
              <tr>
                <th scope="col">Lead</th>
                <th scope="col">Status</th>
                <th scope="col">Office</th>
                <th scope="col">Agent</th>
                <th scope="col">Priority</th>
                <th scope="col">Age</th>
                <th scope="col">Time left on the stage</th>
                <th scope="col">Ladder</th>
              </tr>
            </thead>
            <tbody>
              {page.value.items.map((lead) => (
                <tr key={lead.leadId} class={lead.overdue ? 'overdue' : undefined} data-lead={lead.leadId}>
                  <th scope="row">
                    <a href={`#/leads/${lead.leadId}`} title={lead.leadId}>
                      {lead.leadId.slice(0, 8)}
                    </a>
                  </th>
                  <td>{statusWords[lead.status] ?? lead.status}</td>
                  <td>{lead.office === null ? <span class="muted">unrouted</span> : officeName(lead.office)}</td>
                  <td>{lead.agent ?? <span class="muted">unassigned</span>}</td>
                  <td>{lead.priority === 'urgent' ? <span class="badge urgent">urgent</span> : 'standard'}</td>
                  <td>{duration(now - Date.parse(lead.receivedAt))}</td>
                  <td class={lead.overdue ? 'late' : undefined}>{timeLeft(lead.stageDeadline, now, lead.slaPaused)}</td>
                  <td>
                    {lead.escalationLevel > 0 ? (
                      <span class={`badge level${lead.escalationLevel}`}>level {lead.escalationLevel}</span>
                    ) : (
                      <span class="muted">none</span>
                    )}
                    {lead.nextRung != null && (
                      <span class="next">
                        {' '}
                        next: {rungWords[lead.nextRung.rung]} in{' '}
                        {duration(Math.max(0, Date.parse(lead.nextRung.at) - now))}
                      </span>
                    )}
                    {lead.slaPaused && <span class="badge paused">paused</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pages" aria-label="Pages">
        <button type="button" disabled={cursors.length <= 1} onClick={() => setCursors(cursors.slice(0, -1))}>
          Previous page
        </button>
        <button
          type="button"
          disabled={page.value?.nextCursor == null}
          onClick={() => page.value?.nextCursor != null && setCursors([...cursors, page.value.nextCursor])}
        >
          Next page
        </button>
      </nav>
    </>
  );
}
