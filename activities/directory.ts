import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { packagePath } from './package-files';
import type { NotificationRecipient } from './notifications/types';

const contactSchema = z
  .strictObject({
    name: z.string().min(1),
    email: z.email().optional(),
    webhookUrl: z.url({ protocol: /^https?$/ }).optional(),
  })
  .refine((contact) => contact.email !== undefined || contact.webhookUrl !== undefined, {
    message: 'a contact needs an email or a webhookUrl',
  });

const officeSchema = z.strictObject({
  id: z.string().regex(/^[A-Z][A-Z0-9-]*$/, 'office ids are upper case, e.g. HSI-NEWARK'),
  name: z.string().min(1),
  jurisdictions: z
    .array(z.string().regex(/^[A-Z]{2}-[A-Z0-9]{1,3}$/, 'jurisdictions are ISO 3166-2 codes, e.g. US-NJ'))
    .min(1),
  contacts: z.strictObject({
    /** The duty agent new leads go to when no agent is named. */
    assignee: contactSchema,
    supervisor: contactSchema,
    /** Special Agent in Charge. */
    sac: contactSchema,
  }),
});

export const directorySchema = z
  .strictObject({
    /** HQ's Human Smuggling and Trafficking Unit, the last rung of every ladder. */
    hq: contactSchema,
    offices: z.array(officeSchema).min(1),
  })
  .superRefine((directory, context) => {
    const offices = new Set<string>();
    const owners = new Map<string, string>();
    directory.offices.forEach((office, index) => {
      if (offices.has(office.id)) {
        context.addIssue({
          code: 'custom',
          message: `duplicate office id ${office.id}`,
          path: ['offices', index, 'id'],
        });
      }
      offices.add(office.id);
      office.jurisdictions.forEach((code, position) => {
        const owner = owners.get(code);
        if (owner !== undefined && owner !== office.id) {
          context.addIssue({
            code: 'custom',
            message: `jurisdiction ${code} is already served by ${owner}`,
            path: ['offices', index, 'jurisdictions', position],
          });
        }
        owners.set(code, office.id);
      });
    });
  });

export type Directory = z.infer<typeof directorySchema>;
export type Office = Directory['offices'][number];
export type Contact = Directory['hq'];
export type OfficeRole = keyof Office['contacts'];
export type ContactRole = OfficeRole | 'hq';

export const DEFAULT_DIRECTORY_PATH = packagePath('config/offices.json');

/** Reads and validates the office directory; errors name the file and the offending field. */
export async function loadDirectory(path: string | URL = DEFAULT_DIRECTORY_PATH): Promise<Directory> {
  const label = path instanceof URL ? path.pathname : path;
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new Error(`office directory ${label} could not be read as JSON`, { cause: error });
  }
  return parseDirectory(json, label);
}

export function parseDirectory(json: unknown, label = 'office directory'): Directory {
  const parsed = directorySchema.safeParse(json);
  if (!parsed.success) throw new Error(`invalid office directory ${label}:\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** The office serving a jurisdiction code such as `US-NJ`, if any. */
export function officeForJurisdiction(directory: Directory, code: string): Office | undefined {
  const wanted = code.trim().toUpperCase();
  return directory.offices.find((office) => office.jurisdictions.includes(wanted));
}

export function findOffice(directory: Directory, officeId: string): Office | undefined {
  return directory.offices.find((office) => office.id === officeId);
}

/** The contacts to notify for an office, in the order of `roles`. */
export function recipientsFor(
  directory: Directory,
  officeId: string | undefined,
  roles: readonly ContactRole[],
): NotificationRecipient[] {
  const office = officeId === undefined ? undefined : findOffice(directory, officeId);
  if (officeId !== undefined && office === undefined) throw new Error(`office ${officeId} is not in the directory`);
  return roles.map((role) => {
    if (role === 'hq') return toRecipient(role, directory.hq);
    if (office === undefined) throw new Error(`the ${role} role needs an office`);
    return toRecipient(role, office.contacts[role]);
  });
}

function toRecipient(role: ContactRole, contact: Contact): NotificationRecipient {
  return {
    role,
    name: contact.name,
    ...(contact.email === undefined ? {} : { email: contact.email }),
    ...(contact.webhookUrl === undefined ? {} : { webhookUrl: contact.webhookUrl }),
  };
}
