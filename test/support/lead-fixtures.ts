import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LeadIntake, type LeadIntakeInput } from '../../schemas/intake';

const dir = fileURLToPath(new URL('../fixtures/leads/', import.meta.url));

/** Sample intakes: realistic, invented. */
export function sampleIntakeInputs(): Record<string, LeadIntakeInput> {
  return Object.fromEntries(
    readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => [f.replace(/\.json$/, ''), JSON.parse(readFileSync(`${dir}${f}`, 'utf8')) as LeadIntakeInput]),
  );
}

export function sampleIntake(name: string): LeadIntake {
  const input = sampleIntakeInputs()[name];
  if (input === undefined) throw new Error(`no sample lead ${name}`);
  return LeadIntake.parse(input);
}
