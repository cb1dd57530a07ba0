-- Up Migration

-- Victims' data is sealed field by field before it reaches PostgreSQL (activities/field-crypto.ts): the intake, the
-- free text of commands and the partner's reference, each value with the id of its key. Each row also keeps the id of
-- the key it was written under, so a start can tell which keys the data needs (one index probe per key) before it
-- opens anything, and refuse to run without one. NULL: written before encryption (or, in `leads`, nothing sealed).
ALTER TABLE lead_events ADD COLUMN key_id text;
ALTER TABLE leads ADD COLUMN key_id text;
ALTER TABLE lead_intake_queue ADD COLUMN key_id text;

CREATE INDEX lead_events_key_id_idx ON lead_events (key_id) WHERE key_id IS NOT NULL;

-- The row as before, and its key id.
CREATE OR REPLACE FUNCTION leadline_put_lead(p_lead_id uuid, p_version integer, p_row jsonb) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO leads (lead_id, status, priority, source, kind, office, agent, stage, stage_deadline, escalation_level,
    sla_paused, case_number, closed_reason, fingerprint, received_at, version, state, updated_at, key_id)
  SELECT p_lead_id, r.status, r.priority, r.source, r.kind, r.office, r.agent, r.stage, r.stage_deadline,
    r.escalation_level, r.sla_paused, r.case_number, r.closed_reason, r.fingerprint, r.received_at, p_version,
    coalesce(p_row -> 'state', 'null'::jsonb), now(), r.key_id
  FROM jsonb_populate_record(NULL::leads, p_row) AS r
  ON CONFLICT (lead_id) DO UPDATE SET
    status = EXCLUDED.status, priority = EXCLUDED.priority, source = EXCLUDED.source, kind = EXCLUDED.kind,
    office = EXCLUDED.office, agent = EXCLUDED.agent, stage = EXCLUDED.stage,
    stage_deadline = EXCLUDED.stage_deadline, escalation_level = EXCLUDED.escalation_level,
    sla_paused = EXCLUDED.sla_paused, case_number = EXCLUDED.case_number,
    closed_reason = EXCLUDED.closed_reason, fingerprint = EXCLUDED.fingerprint,
    received_at = EXCLUDED.received_at, version = EXCLUDED.version, state = EXCLUDED.state,
    updated_at = EXCLUDED.updated_at, key_id = EXCLUDED.key_id
$$;

-- As in 0006, with each event's key id.
CREATE OR REPLACE FUNCTION leadline_append(
  p_lock_namespace integer,
  p_lock_key text,
  p_lead_id uuid,
  p_expected integer,
  p_events jsonb,
  p_row jsonb,
  p_audit jsonb
) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_current integer;
  v_new integer := p_expected + jsonb_array_length(p_events);
BEGIN
  PERFORM pg_advisory_xact_lock(p_lock_namespace, hashtext(p_lock_key));
  -- Waits for a running rebuild (EXCLUSIVE on leads) and reads what it wrote.
  SELECT version INTO v_current FROM leads WHERE lead_id = p_lead_id FOR UPDATE;
  IF coalesce(v_current, 0) <> p_expected THEN
    RETURN NULL;
  END IF;
  INSERT INTO lead_events (lead_id, seq, event_id, type, data, metadata, written_by, key_id)
  SELECT p_lead_id, e.seq, e.event_id, e.type, e.data, e.metadata, e.written_by, e.key_id
  FROM jsonb_to_recordset(p_events) AS e(seq integer, event_id uuid, type text, data jsonb, metadata jsonb,
    written_by text, key_id text);
  PERFORM leadline_put_lead(p_lead_id, v_new, p_row);
  INSERT INTO audit_log (actor, lead_id, action, outcome, detail)
  VALUES (p_audit ->> 'actor', p_lead_id, p_audit ->> 'action', p_audit ->> 'outcome', p_audit -> 'detail');
  RETURN v_new;
END
$$;

-- The key ids the stored data needs, each found by one probe of an index (or of a small table), so a start can check
-- them against its keyring however long the log. Rows with no key id were written before encryption.
CREATE FUNCTION leadline_key_ids() RETURNS SETOF text
LANGUAGE sql STABLE AS $$
  WITH RECURSIVE logged(key_id) AS (
    SELECT min(key_id) FROM lead_events WHERE key_id IS NOT NULL
    UNION ALL
    SELECT (SELECT min(e.key_id) FROM lead_events e WHERE e.key_id > logged.key_id)
    FROM logged WHERE logged.key_id IS NOT NULL
  )
  SELECT key_id FROM logged WHERE key_id IS NOT NULL
  UNION
  SELECT DISTINCT key_id FROM leads WHERE key_id IS NOT NULL
  UNION
  SELECT DISTINCT key_id FROM lead_intake_queue WHERE key_id IS NOT NULL AND submission IS NOT NULL
$$;

GRANT EXECUTE ON FUNCTION leadline_key_ids() TO leadline_app;

-- Down Migration

DROP FUNCTION leadline_key_ids();

CREATE OR REPLACE FUNCTION leadline_append(
  p_lock_namespace integer,
  p_lock_key text,
  p_lead_id uuid,
  p_expected integer,
  p_events jsonb,
  p_row jsonb,
  p_audit jsonb
) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_current integer;
  v_new integer := p_expected + jsonb_array_length(p_events);
BEGIN
  PERFORM pg_advisory_xact_lock(p_lock_namespace, hashtext(p_lock_key));
  SELECT version INTO v_current FROM leads WHERE lead_id = p_lead_id FOR UPDATE;
  IF coalesce(v_current, 0) <> p_expected THEN
    RETURN NULL;
  END IF;
  INSERT INTO lead_events (lead_id, seq, event_id, type, data, metadata, written_by)
  SELECT p_lead_id, e.seq, e.event_id, e.type, e.data, e.metadata, e.written_by
  FROM jsonb_to_recordset(p_events) AS e(seq integer, event_id uuid, type text, data jsonb, metadata jsonb,
    written_by text);
  PERFORM leadline_put_lead(p_lead_id, v_new, p_row);
  INSERT INTO audit_log (actor, lead_id, action, outcome, detail)
  VALUES (p_audit ->> 'actor', p_lead_id, p_audit ->> 'action', p_audit ->> 'outcome', p_audit -> 'detail');
  RETURN v_new;
END
$$;

CREATE OR REPLACE FUNCTION leadline_put_lead(p_lead_id uuid, p_version integer, p_row jsonb) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO leads (lead_id, status, priority, source, kind, office, agent, stage, stage_deadline, escalation_level,
    sla_paused, case_number, closed_reason, fingerprint, received_at, version, state, updated_at)
  SELECT p_lead_id, r.status, r.priority, r.source, r.kind, r.office, r.agent, r.stage, r.stage_deadline,
    r.escalation_level, r.sla_paused, r.case_number, r.closed_reason, r.fingerprint, r.received_at, p_version,
    coalesce(p_row -> 'state', 'null'::jsonb), now()
  FROM jsonb_populate_record(NULL::leads, p_row) AS r
  ON CONFLICT (lead_id) DO UPDATE SET
    status = EXCLUDED.status, priority = EXCLUDED.priority, source = EXCLUDED.source, kind = EXCLUDED.kind,
    office = EXCLUDED.office, agent = EXCLUDED.agent, stage = EXCLUDED.stage,
    stage_deadline = EXCLUDED.stage_deadline, escalation_level = EXCLUDED.escalation_level,
    sla_paused = EXCLUDED.sla_paused, case_number = EXCLUDED.case_number,
    closed_reason = EXCLUDED.closed_reason, fingerprint = EXCLUDED.fingerprint,
    received_at = EXCLUDED.received_at, version = EXCLUDED.version, state = EXCLUDED.state,
    updated_at = EXCLUDED.updated_at
$$;

DROP INDEX lead_events_key_id_idx;
ALTER TABLE lead_intake_queue DROP COLUMN key_id;
ALTER TABLE leads DROP COLUMN key_id;
ALTER TABLE lead_events DROP COLUMN key_id;
