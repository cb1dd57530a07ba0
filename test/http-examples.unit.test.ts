import { describe, expect, it } from 'vitest';
import { loadDirectory } from '../activities/directory';
import {
  commandExamples,
  EXAMPLE_OFFICE,
  EXAMPLE_OTHER_OFFICE,
  intakeExample,
  leadSummaryExample,
  meExample,
  problemExample,
} from '../client/http/examples';
import { LeadSummaryBody, MeBody, ProblemBody } from '../client/http/schemas';
import { commandData, externalCommandTypes } from '../schemas/commands';
import { LeadIntake } from '../schemas/intake';

describe('the OpenAPI examples are values the API itself would take or give', () => {
  it('every command example passes its command’s schema', () => {
    for (const type of externalCommandTypes) {
      const parsed = commandData[type].safeParse(commandExamples[type]);
      expect(parsed.success, `${type}: ${JSON.stringify(parsed.error?.issues)}`).toBe(true);
    }
  });

  it('the offices named are offices of the directory', async () => {
    const offices = (await loadDirectory()).offices.map((office) => office.id);
    expect(offices).toEqual(expect.arrayContaining([EXAMPLE_OFFICE, EXAMPLE_OTHER_OFFICE]));
    expect(offices).toContain(commandExamples.AssignLead.office);
    expect(offices).toContain(commandExamples.ReassignLead.office);
  });

  it('the intake, a list item, /me and a problem match their schemas', () => {
    expect(LeadIntake.safeParse(intakeExample).success).toBe(true);
    expect(LeadSummaryBody.parse(leadSummaryExample)).toEqual(leadSummaryExample);
    expect(MeBody.parse(meExample)).toEqual(meExample);
    expect(ProblemBody.safeParse(problemExample).success).toBe(true);
  });
});
