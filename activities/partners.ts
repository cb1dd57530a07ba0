/**
 * The partner directory (config/partners.json, optional; LEADLINE_PARTNERS): the referring partners Leadline answers
 * through channels of their own choosing, keyed by the partner id an intake names in `partner.id`. A partner the
 * directory does not hold is told at the intake's partner email, if it left one (README: the partner loop).
 */
import { packagePath } from './package-files';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { NotificationRecipient } from './notifications/types';

const partnerSchema = z
  .strictObject({
    id: z.string().regex(/^[A-Z0-9][A-Z0-9-]{1,39}$/, 'partner ids are upper case, e.g. NGO-SAFE-HARBOR'),
    name: z.string().min(1),
    webhookUrl: z.url({ protocol: /^https?$/ }).optional(),
    email: z.email().optional(),
    /** Whether the partner wants a word at each milestone; the acknowledgement is sent either way. */
    milestones: z.boolean().default(true),
  })
  .refine((partner) => partner.email !== undefined || partner.webhookUrl !== undefined, {
    message: 'a partner needs an email or a webhookUrl',
  });

export const partnerDirectorySchema = z
  .strictObject({ $comment: z.string().optional(), partners: z.array(partnerSchema) })
  .superRefine((dir, ctx) => {
    const seen = new Set<string>();
    dir.partners.forEach((partner, index) => {
      if (seen.has(partner.id)) {
        ctx.addIssue({
          code: 'custom',
          message: `duplicate partner id ${partner.id}`,
          path: ['partners', index, 'id'],
        });
      }
      seen.add(partner.id);
    });
  });

export type PartnerDirectory = z.infer<typeof partnerDirectorySchema>;
export type PartnerEntry = PartnerDirectory['partners'][number];

export const DEFAULT_PARTNERS_PATH = packagePath('config/partners.json');
export const emptyPartnerDirectory: PartnerDirectory = { partners: [] };

/**
 * Reads and validates the partner directory. The file is optional: without `path` a missing default file is an empty
 * directory; a path given must exist. Errors name the file, the entry (index and id) and the field.
 */
export async function loadPartnerDirectory(path?: string | URL): Promise<PartnerDirectory> {
  const file = path ?? DEFAULT_PARTNERS_PATH;
  if (path === undefined && !existsSync(file)) return emptyPartnerDirectory;
  const label = file instanceof URL ? file.pathname : file;
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new Error(`partner directory ${label} could not be read as JSON`, { cause: error });
  }
  return parsePartnerDirectory(json, label);
}

export function parsePartnerDirectory(json: unknown, label = 'partner directory'): PartnerDirectory {
  const parsed = partnerDirectorySchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const entries = (json as { partners?: unknown } | null)?.partners;
  const issues = parsed.error.issues.map((issue) => {
    const [head, index, ...rest] = issue.path;
    if (head !== 'partners' || typeof index !== 'number')
      return `${issue.path.join('.') || '(file)'}: ${issue.message}`;
    const id = Array.isArray(entries) ? (entries[index] as { id?: unknown } | undefined)?.id : undefined;
    const entry = `partners[${index}]${typeof id === 'string' ? ` (${id})` : ''}`;
    return `${entry}${rest.length > 0 ? `.${rest.join('.')}` : ''}: ${issue.message}`;
  });
  throw new Error(`invalid partner directory ${label}: ${issues.join('; ')}`);
}

export function findPartner(directory: PartnerDirectory, partnerId: string): PartnerEntry | undefined {
  return directory.partners.find((partner) => partner.id === partnerId);
}

/**
 * Where a lead's partner is told, and whether it wants milestones: its directory entry when the intake named one the
 * directory holds, else the intake's partner email as the one channel (milestones wanted), else nowhere but the log.
 */
export function partnerRecipient(
  directory: PartnerDirectory,
  partnerId: string | null,
  intakeEmail: string | undefined,
): { recipient: NotificationRecipient; milestones: boolean } {
  const entry = partnerId === null ? undefined : findPartner(directory, partnerId);
  if (entry !== undefined) {
    return {
      recipient: {
        role: 'partner',
        name: entry.name,
        ...(entry.email === undefined ? {} : { email: entry.email }),
        ...(entry.webhookUrl === undefined ? {} : { webhookUrl: entry.webhookUrl }),
      },
      milestones: entry.milestones,
    };
  }
  return {
    recipient: { role: 'partner', ...(intakeEmail === undefined ? {} : { email: intakeEmail }) },
    milestones: true,
  };
}
