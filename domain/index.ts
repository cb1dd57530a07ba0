export { decide, evolve, fold, allowedCommands, initialState, intakeIsUrgent, type Decision } from './lead';
export { LeadRuleViolation } from './errors';
export {
  currentStageBudgetMs,
  nextRung,
  nextSlaAction,
  nextSlaActionOf,
  rungOf,
  stageDeadline,
  stageForStatus,
  stageBudgetMs,
  usedMsAt,
  type NextRung,
  type RungName,
  type SlaAction,
} from './sla';
export { timelineEntry, type TimelineEntry } from './timeline';
