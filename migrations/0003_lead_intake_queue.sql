-- Up Migration

-- Leads accepted with `Prefer: respond-async` (POST /leads) wait here until their workflow is started. A row is
-- written in the request and committed before the 202, so an accepted lead survives a crash of the API and an
-- outage of Temporal; the intake forwarder (worker/intake-forwarder.ts) starts the workflow and clears the intake.
-- The row stays, without the intake, as the record that the lead was accepted and forwarded.
CREATE TABLE lead_intake_queue (
  lead_id uuid PRIMARY KEY,
  -- A digest of the intake, to tell the same submission sent again from another intake under the same key.
  intake_digest text NOT NULL,
  -- The intake (personal data) and who submitted it; NULL once the workflow holds them.
  submission jsonb,
  queued_at timestamptz NOT NULL DEFAULT now(),
  forwarded_at timestamptz,
  -- `started`: the forwarder started the workflow, or found it started from this intake; `conflict`: the
  -- lead's key already named a lead with another intake (submitted through the synchronous path meanwhile).
  outcome text CHECK (outcome IN ('started', 'conflict')),
  attempts integer NOT NULL DEFAULT 0,
  -- When a forwarder may take the row (again): a claim pushes it out, so a forwarder that dies lets it go.
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  -- The last failure's kind and message (Temporal's, never the intake's).
  last_error text,
  CHECK ((forwarded_at IS NULL) = (outcome IS NULL)),
  CHECK (forwarded_at IS NOT NULL OR submission IS NOT NULL)
);

CREATE INDEX lead_intake_queue_waiting_idx ON lead_intake_queue (next_attempt_at) WHERE forwarded_at IS NULL;

REVOKE ALL ON lead_intake_queue FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON lead_intake_queue TO leadline_app;

-- Wakes the forwarders as soon as a lead is queued (they also poll, in case a notification is missed).
CREATE FUNCTION leadline_intake_queued() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('lead_intake_queue', '');
  RETURN NULL;
END
$$;

CREATE TRIGGER lead_intake_queue_notify
  AFTER INSERT ON lead_intake_queue
  FOR EACH STATEMENT EXECUTE FUNCTION leadline_intake_queued();

-- Down Migration

DROP TABLE lead_intake_queue;
DROP FUNCTION leadline_intake_queued();
