import { createHash } from 'node:crypto';
import { z } from 'zod';
import { LeadState } from '../schemas/lead';

/*
 * Differences between views of a lead, for a person to read. Nothing here prints intake data: a difference names a
 * `leads` column or a field of the lead's state (which holds no personal data), and values are shown only for fields
 * the state schema knows.
 */

/** Where a lead's data was read from. `live` and `rebuilt` are the read model before and after a rebuild. */
export type View = 'live' | 'rebuilt' | 'workflow' | 'read_model' | 'log';

export interface Difference {
  leadId: string;
  /** The two views that disagree; the second is the reference (the event log, or what it rebuilds to). */
  views: readonly [View, View];
  /** A `leads` column (`escalation_level`), a path in the state (`state.sla.level`), or what is missing (`row`, `execution`). */
  field: string;
  /** Both sides, printable. */
  values: readonly [string, string];
}

export function formatDifference(d: Difference): string {
  return `lead ${d.leadId}  ${d.field}  ${d.views[0]}: ${d.values[0]}  ${d.views[1]}: ${d.values[1]}`;
}

/** Field by field down plain objects; arrays and scalars compare whole. */
export function diffValues(
  leadId: string,
  views: readonly [View, View],
  path: string,
  a: unknown,
  b: unknown,
): Difference[] {
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((key) => diffValues(leadId, views, `${path}.${key}`, a[key], b[key]));
  }
  if (canonical(a) === canonical(b)) return [];
  return [{ leadId, views, field: path, values: [printable(path, a), printable(path, b)] }];
}

const MAX_SHOWN = 80;

/**
 * A state value for a person to read. Command ids are summarised: a submission's id defaults to the
 * partner's source and external reference. A field the schema does not know is not shown at all.
 */
function printable(path: string, value: unknown): string {
  if (value === undefined) return '(absent)';
  // What the contact-safety rules know of a victim (a minor, unsafe contact) is not for an operator's terminal.
  if (path === 'state.safety' || path.startsWith('state.safety.')) return '(present: personal data, not shown)';
  const schema = schemaAt(path);
  if (schema === undefined) return '(present, not a state field)';
  if (path === 'state.recentCommandIds' && Array.isArray(value)) {
    return `${value.length} command ids #${createHash('sha256').update(canonical(value)).digest('hex').slice(0, 8)}`;
  }
  const shown = typeof value === 'string' ? value : JSON.stringify(knownFields(schema, value));
  return shown.length > MAX_SHOWN ? `${shown.slice(0, MAX_SHOWN - 1)}…` : shown;
}

/** The state schema's node at `state.a.b`, or undefined when the path is not part of it. */
function schemaAt(path: string): z.ZodType | undefined {
  let schema: z.ZodType | undefined = LeadState;
  for (const key of path.split('.').slice(1)) {
    const object = unwrap(schema);
    schema = object instanceof z.ZodObject ? (object.shape as Record<string, z.ZodType>)[key] : undefined;
    if (schema === undefined) return undefined;
  }
  return schema;
}

function unwrap(schema: z.ZodType): z.ZodType {
  let inner = schema;
  while (inner instanceof z.ZodNullable || inner instanceof z.ZodOptional) inner = inner.unwrap() as z.ZodType;
  return inner;
}

function knownFields(schema: z.ZodType, value: unknown): unknown {
  const object = unwrap(schema);
  if (!(object instanceof z.ZodObject) || !isPlainObject(value)) return value;
  const shape = object.shape as Record<string, z.ZodType>;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => key in shape)
      .map(([key, inner]) => [key, knownFields(shape[key] as z.ZodType, inner)]),
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** JSON with sorted keys, so jsonb's key order does not count as a difference. */
function canonical(value: unknown): string {
  if (value === undefined) return 'undefined';
  return JSON.stringify(value, (_key, v: unknown) =>
    isPlainObject(v) ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) : v,
  );
}
