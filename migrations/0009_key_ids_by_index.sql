-- Up Migration

-- Which keys the stored data needs is asked at every start and, at most every 5 s, by /readyz (activities/keys.ts).
-- leadline_key_ids() found those of `leads` and of the intake queue with SELECT DISTINCT, reading both tables whole:
-- at a million leads, seconds of reading per probe, under the services' database deadline. With these partial
-- indexes each distinct key id is one probe, as it already was for `lead_events`.
CREATE INDEX leads_key_id_idx ON leads (key_id) WHERE key_id IS NOT NULL;
CREATE INDEX lead_intake_queue_key_id_idx ON lead_intake_queue (key_id)
  WHERE key_id IS NOT NULL AND submission IS NOT NULL;

CREATE OR REPLACE FUNCTION leadline_key_ids() RETURNS SETOF text
LANGUAGE sql STABLE AS $$
  WITH RECURSIVE logged(key_id) AS (
    SELECT min(key_id) FROM lead_events WHERE key_id IS NOT NULL
    UNION ALL
    SELECT (SELECT min(e.key_id) FROM lead_events e WHERE e.key_id > logged.key_id)
    FROM logged WHERE logged.key_id IS NOT NULL
  ),
  stored(key_id) AS (
    SELECT min(key_id) FROM leads WHERE key_id IS NOT NULL
    UNION ALL
    SELECT (SELECT min(l.key_id) FROM leads l WHERE l.key_id > stored.key_id)
    FROM stored WHERE stored.key_id IS NOT NULL
  ),
  queued(key_id) AS (
    SELECT min(key_id) FROM lead_intake_queue WHERE key_id IS NOT NULL AND submission IS NOT NULL
    UNION ALL
    SELECT (SELECT min(q.key_id) FROM lead_intake_queue q WHERE q.key_id > queued.key_id AND q.submission IS NOT NULL)
    FROM queued WHERE queued.key_id IS NOT NULL
  )
  SELECT key_id FROM logged WHERE key_id IS NOT NULL
  UNION
  SELECT key_id FROM stored WHERE key_id IS NOT NULL
  UNION
  SELECT key_id FROM queued WHERE key_id IS NOT NULL
$$;

-- Down Migration

CREATE OR REPLACE FUNCTION leadline_key_ids() RETURNS SETOF text
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

DROP INDEX lead_intake_queue_key_id_idx;
DROP INDEX leads_key_id_idx;
