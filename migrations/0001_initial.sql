-- Up Migration

-- The application connects as a login role that is a member of this group role, so privileges are
-- granted once here and the login (name, password) stays a deployment concern. Roles are cluster-wide:
-- several databases (one per test file) may run this migration at the same time, hence the handler.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'leadline_app') THEN
    CREATE ROLE leadline_app NOLOGIN;
  END IF;
EXCEPTION
  WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

GRANT USAGE ON SCHEMA public TO leadline_app;

-- Raised by triggers on append-only tables. Grants already stop the application role; the trigger also
-- stops owners and superusers doing it by accident. The message names the table only, never row data.
CREATE FUNCTION leadline_forbid_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;

-- Event store ---------------------------------------------------------------------------------------

CREATE TABLE lead_events (
  lead_id uuid NOT NULL,
  seq integer NOT NULL CHECK (seq > 0),
  event_id uuid NOT NULL UNIQUE,
  type text NOT NULL,
  data jsonb NOT NULL,
  metadata jsonb NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (lead_id, seq)
);

REVOKE ALL ON lead_events FROM PUBLIC;
GRANT SELECT, INSERT ON lead_events TO leadline_app;

CREATE TRIGGER lead_events_append_only
  BEFORE UPDATE OR DELETE ON lead_events
  FOR EACH ROW EXECUTE FUNCTION leadline_forbid_change();

CREATE TRIGGER lead_events_no_truncate
  BEFORE TRUNCATE ON lead_events
  FOR EACH STATEMENT EXECUTE FUNCTION leadline_forbid_change();

-- Supervisors' read model ---------------------------------------------------------------------------

CREATE TABLE leads (
  lead_id uuid PRIMARY KEY,
  status text NOT NULL,
  priority text NOT NULL,
  source text NOT NULL,
  kind text NOT NULL,
  office text,
  agent text,
  stage text,
  stage_deadline timestamptz,
  escalation_level integer NOT NULL DEFAULT 0,
  sla_paused boolean NOT NULL DEFAULT false,
  case_number text,
  closed_reason text,
  -- A keyed hash of normalised intake fields, so duplicates can be found without storing them twice.
  fingerprint text NOT NULL,
  received_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  version integer NOT NULL CHECK (version > 0),
  -- The full folded state; it holds personal data, so list queries should select the columns above.
  state jsonb NOT NULL
);

CREATE INDEX leads_office_status_idx ON leads (office, status);
CREATE INDEX leads_open_stage_deadline_idx ON leads (stage_deadline) WHERE status NOT IN ('case_opened', 'closed');
CREATE INDEX leads_fingerprint_idx ON leads (fingerprint);

REVOKE ALL ON leads FROM PUBLIC;
-- DELETE is needed by the rebuild, which recomputes every row from lead_events.
GRANT SELECT, INSERT, UPDATE, DELETE ON leads TO leadline_app;

-- Open leads whose stage clock has run out or whose ladder has started, worst first. A paused clock is
-- not overdue: its deadline is restarted with the time already used when the SLA resumes.
CREATE VIEW overdue_leads AS
SELECT
  lead_id,
  status,
  priority,
  source,
  kind,
  office,
  agent,
  stage,
  stage_deadline,
  escalation_level,
  sla_paused,
  (NOT sla_paused AND stage_deadline IS NOT NULL AND stage_deadline < now()) AS overdue,
  version,
  updated_at
FROM leads
WHERE status NOT IN ('case_opened', 'closed')
  AND ((NOT sla_paused AND stage_deadline < now()) OR escalation_level > 0)
ORDER BY overdue DESC, escalation_level DESC, stage_deadline ASC NULLS LAST, lead_id;

REVOKE ALL ON overdue_leads FROM PUBLIC;
GRANT SELECT ON overdue_leads TO leadline_app;

-- Notifications ---------------------------------------------------------------------------------------

CREATE TABLE notifications (
  id bigserial PRIMARY KEY,
  idempotency_key text NOT NULL UNIQUE,
  lead_id uuid NOT NULL,
  channel text NOT NULL CHECK (channel IN ('log', 'webhook', 'email')),
  recipient text NOT NULL,
  kind text NOT NULL,
  payload jsonb NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_attempt_at timestamptz,
  delivered_at timestamptz
);

CREATE INDEX notifications_lead_idx ON notifications (lead_id);
CREATE INDEX notifications_pending_idx ON notifications (created_at) WHERE status = 'pending';

REVOKE ALL ON notifications FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON notifications TO leadline_app;
GRANT USAGE ON SEQUENCE notifications_id_seq TO leadline_app;

-- Audit -------------------------------------------------------------------------------------------------

CREATE TABLE audit_log (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  lead_id uuid,
  action text NOT NULL,
  outcome text NOT NULL,
  detail jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX audit_log_lead_idx ON audit_log (lead_id, at);

REVOKE ALL ON audit_log FROM PUBLIC;
GRANT SELECT, INSERT ON audit_log TO leadline_app;
GRANT USAGE ON SEQUENCE audit_log_id_seq TO leadline_app;

CREATE TRIGGER audit_log_append_only
  BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION leadline_forbid_change();

CREATE TRIGGER audit_log_no_truncate
  BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION leadline_forbid_change();

-- Down Migration

-- The leadline_app role is left in place: roles belong to the cluster, and other databases on it
-- (another environment, another test) may still grant to it.
DROP TABLE audit_log;
DROP TABLE notifications;
DROP VIEW overdue_leads;
DROP TABLE leads;
DROP TABLE lead_events;
DROP FUNCTION leadline_forbid_change();
