import { z } from 'zod';
import { type SlaStage } from './lead';
import { text } from './text';
import { DEFAULT_MAXIMUM_PAUSE_MS } from './vocabulary';

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration as milliseconds or as text such as `90m`, `4h`, `7d`. */
export const Duration = z.union([
  z.number().int().positive(),
  z
    .string()
    .regex(/^\d+(\.\d+)?(ms|s|m|h|d)$/, 'duration must look like 30m, 4h or 7d')
    .transform((value) => {
      const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(value);
      const unit = match?.[2] ?? 'ms';
      return Math.round(Number(match?.[1] ?? 0) * (units[unit] ?? 1));
    }),
]);

const StageBudget = z.object({ standard: Duration, urgent: Duration }).refine((b) => b.urgent <= b.standard, {
  message: 'the urgent budget must not be longer than the standard one',
});

export const SlaPolicy = z
  .object({
    // Stored and echoed (audit rows, reports, workflow inputs): text a database and a log can take, and short.
    version: text(100),
    stages: z.object({
      validation: StageBudget,
      assignment: StageBudget,
      interview_request: StageBudget,
      interview: StageBudget,
      disposition: StageBudget,
    }),
    ladder: z
      .object({
        /** Fraction of the stage budget at which the assignee is warned. */
        warningAt: z.number().positive(),
        /** Fractions at which levels 1, 2 and 3 fire. */
        levels: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]),
      })
      .refine((l) => l.warningAt < l.levels[0] && l.levels[0] < l.levels[1] && l.levels[1] < l.levels[2], {
        message: 'ladder fractions must rise: warning < level 1 < level 2 < level 3',
      }),
    /** After an acknowledgement, the ladder holds this long before it climbs again. */
    reEscalationInterval: Duration,
    /** Stabilisation pauses (victim care): the supervisor is reminded again once one has lasted `maximumPause`. */
    stabilisation: z.object({ maximumPause: Duration }).strict().default({ maximumPause: DEFAULT_MAXIMUM_PAUSE_MS }),
    /**
     * The partner loop: the referring partner is owed an acknowledgement within `acknowledgement` of intake; when it is
     * late the office supervisor is told at `ladder[0]` of that budget and HQ at `ladder[1]`.
     */
    partner: z
      .object({
        acknowledgement: StageBudget,
        ladder: z
          .tuple([z.number().positive(), z.number().positive()])
          .refine((l) => l[0] < l[1], { message: 'partner ladder fractions must rise: supervisor < HQ' }),
      })
      .strict()
      .default({ acknowledgement: { standard: 24 * 3_600_000, urgent: 2 * 3_600_000 }, ladder: [1, 2] }),
    /** Divides every duration: 1 is real time, 3600 turns hours into seconds for demos. */
    timeScale: z.number().positive().max(1_000_000),
  })
  .strict();
export type SlaPolicy = z.infer<typeof SlaPolicy>;
export type SlaPolicyInput = z.input<typeof SlaPolicy>;

export const defaultSlaPolicyInput: SlaPolicyInput = {
  version: '2026-11-default',
  stages: {
    validation: { standard: '4h', urgent: '1h' },
    assignment: { standard: '24h', urgent: '2h' },
    interview_request: { standard: '48h', urgent: '12h' },
    interview: { standard: '72h', urgent: '24h' },
    disposition: { standard: '7d', urgent: '3d' },
  },
  ladder: { warningAt: 0.75, levels: [1, 1.5, 2] },
  reEscalationInterval: '4h',
  stabilisation: { maximumPause: '14d' },
  partner: { acknowledgement: { standard: '24h', urgent: '2h' }, ladder: [1, 2] },
  timeScale: 1,
};

export function defaultSlaPolicy(overrides: Partial<Pick<SlaPolicy, 'timeScale'>> = {}): SlaPolicy {
  return SlaPolicy.parse({ ...defaultSlaPolicyInput, ...overrides });
}

export type { SlaStage };
