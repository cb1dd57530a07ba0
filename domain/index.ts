export { decide, evolve, fold, allowedCommands, initialState, intakeIsUrgent, type Decision } from './lead';
export { LeadRuleViolation } from './errors';
export { nextSlaAction, stageDeadline, stageForStatus, stageBudgetMs, usedMsAt, type SlaAction } from './sla';
export { timelineEntry, type TimelineEntry } from './timeline';
