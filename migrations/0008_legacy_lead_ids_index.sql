-- Up Migration

-- Leads named by 1.0.0 (uuid version 5, before keyed lead ids) are found by a retried submission through the read
-- model and the intake queue (activities/legacy-lead-ids.ts). Whether a store holds any is asked once at each API
-- start; without an index that question read the whole of `leads`. These partial indexes hold only such leads: on a
-- store that never ran 1.0.0 they are empty and the answer is one index probe.
CREATE INDEX leads_legacy_id_idx ON leads (lead_id) WHERE substr(lead_id::text, 15, 1) = '5';
CREATE INDEX lead_intake_queue_legacy_id_idx ON lead_intake_queue (lead_id) WHERE substr(lead_id::text, 15, 1) = '5';

-- Down Migration

DROP INDEX lead_intake_queue_legacy_id_idx;
DROP INDEX leads_legacy_id_idx;
