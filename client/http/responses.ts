import type { z } from 'zod';
import { PROBLEM_CONTENT_TYPE } from './problems';
import { ProblemBody } from './schemas';

/** An OpenAPI response with a JSON body of `schema`. */
export const jsonResponse = <T extends z.ZodType>(description: string, schema: T) => ({
  description,
  content: { 'application/json': { schema } },
});

/** An OpenAPI response with an RFC 9457 problem body. */
export const problemResponse = (description: string) => ({
  description,
  content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemBody } },
});
