-- Up Migration

-- A synchronous submission (POST /leads without `Prefer: respond-async`) writes a row here too, before it starts the
-- workflow, already forwarded with outcome `direct`: the key is taken, so an asynchronous submission racing it under
-- another intake is sent to Temporal (which answers 422) instead of being queued and answered 202. No intake is
-- stored in such a row; only its digest.
ALTER TABLE lead_intake_queue
  DROP CONSTRAINT lead_intake_queue_outcome_check,
  ADD CONSTRAINT lead_intake_queue_outcome_check CHECK (outcome IN ('started', 'conflict', 'direct'));

-- Down Migration

DELETE FROM lead_intake_queue WHERE outcome = 'direct';
ALTER TABLE lead_intake_queue
  DROP CONSTRAINT lead_intake_queue_outcome_check,
  ADD CONSTRAINT lead_intake_queue_outcome_check CHECK (outcome IN ('started', 'conflict'));
