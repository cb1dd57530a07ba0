export {
  decide,
  evolve,
  fold,
  allowedCommands,
  initialState,
  intakeIsUrgent,
  safetyOfIntake,
  contactSafetyBreaches,
  currentRules,
  type Decision,
  type DecideRules,
} from './lead';
export { LeadRuleViolation, type SafetyRuleBreach } from './errors';
export {
  nextSlaAction,
  nextWakeAt,
  pendingStabilisationReminders,
  stageDeadline,
  stageForStatus,
  stageBudgetMs,
  usedMsAt,
  type SlaAction,
} from './sla';
export { timelineEntry, type TimelineEntry } from './timeline';
