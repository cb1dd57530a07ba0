-- Up Migration

-- Which workflow run wrote each event. A lead has one writer, its workflow; a run that finds the log ahead of it
-- adopts what the log holds. An earlier attempt of its own task is the expected case after a worker crash; events
-- from another run (a second workflow for the same lead) are the one that must raise an alarm, and this column is
-- how the append tells them apart. Rows written before it existed, and writes from outside a workflow, hold NULL.
ALTER TABLE lead_events ADD COLUMN written_by text;

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

-- Down Migration

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
  INSERT INTO lead_events (lead_id, seq, event_id, type, data, metadata)
  SELECT p_lead_id, e.seq, e.event_id, e.type, e.data, e.metadata
  FROM jsonb_to_recordset(p_events) AS e(seq integer, event_id uuid, type text, data jsonb, metadata jsonb);
  PERFORM leadline_put_lead(p_lead_id, v_new, p_row);
  INSERT INTO audit_log (actor, lead_id, action, outcome, detail)
  VALUES (p_audit ->> 'actor', p_lead_id, p_audit ->> 'action', p_audit ->> 'outcome', p_audit -> 'detail');
  RETURN v_new;
END
$$;

ALTER TABLE lead_events DROP COLUMN written_by;
