export {
  decide,
  evolve,
  fold,
  allowedCommands,
  initialState,
  intakeIsUrgent,
  safetyOfIntake,
  contactSafetyBreaches,
  type Decision,
} from './lead';
export { LeadRuleViolation, type SafetyRuleBreach } from './errors';
export {
  currentStageBudgetMs,
  nextRung,
  nextSlaAction,
  nextSlaActionOf,
  nextWakeAt,
  pendingStabilisationReminders,
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
export {
  nextPartnerRung,
  partnerAcknowledgementOwed,
  partnerMilestoneOf,
  type PartnerClock,
  type PartnerRungDue,
} from './partner';
