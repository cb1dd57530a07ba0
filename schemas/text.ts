import { z } from 'zod';

/**
 * PostgreSQL's text and jsonb cannot hold a NUL, nor UTF-8 hold half a surrogate pair: such a string would pass the
 * API and then be refused by the database on every retry. Every string the API stores is built here, so it is
 * refused at the edge instead, with the field named and the value never quoted.
 */
export const UNSTORABLE_TEXT_MESSAGE = 'contains a NUL byte or an unpaired surrogate';

// Without the `u` flag the regex sees UTF-16 code units, which is what finds half a pair.
const unstorable = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Whether PostgreSQL could store the string: no NUL, no lone surrogate. */
export function isStorableText(value: string): boolean {
  return !unstorable.test(value);
}

/** A string PostgreSQL can store, with no other bound: the base of every text field a caller sends. */
export const storableString = () =>
  z.string().refine(isStorableText, { message: UNSTORABLE_TEXT_MESSAGE, abort: true });

/** A caller's free text: trimmed, not empty, at most `max` characters, storable. */
export const text = (max: number) => storableString().trim().min(1).max(max);
