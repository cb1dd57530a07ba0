-- Up Migration

-- A lead's read-model row, inserted or replaced whole. `p_row` holds the projection's columns by name; the
-- version is the store's (the last sequence number written). Both the append and the rebuild write through it,
-- so the row is defined once.
CREATE FUNCTION leadline_put_lead(p_lead_id uuid, p_version integer, p_row jsonb) RETURNS void
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

-- An append in one statement, so one round trip and one commit: it takes the lead's lock (the same advisory
-- lock as the store's other writers), and writes the events, the read-model row and the audit row only when the
-- lead is still at `p_expected`, the version the caller projected the row from. Returns the new version, or NULL
-- when it wrote nothing (the lead moved on, or this append was committed before): the caller's careful path
-- decides which.
CREATE FUNCTION leadline_append(
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
  INSERT INTO lead_events (lead_id, seq, event_id, type, data, metadata)
  SELECT p_lead_id, e.seq, e.event_id, e.type, e.data, e.metadata
  FROM jsonb_to_recordset(p_events) AS e(seq integer, event_id uuid, type text, data jsonb, metadata jsonb);
  PERFORM leadline_put_lead(p_lead_id, v_new, p_row);
  INSERT INTO audit_log (actor, lead_id, action, outcome, detail)
  VALUES (p_audit ->> 'actor', p_lead_id, p_audit ->> 'action', p_audit ->> 'outcome', p_audit -> 'detail');
  RETURN v_new;
END
$$;

-- Down Migration

DROP FUNCTION leadline_append(integer, text, uuid, integer, jsonb, jsonb, jsonb);
DROP FUNCTION leadline_put_lead(uuid, integer, jsonb);
