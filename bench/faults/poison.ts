import { connect } from 'node:net';
import { leadIdForSubmission } from './cluster';
import type { LeadIntakeInput } from '../../schemas/intake';
import { sampleIntakeInputs } from '../../test/support/lead-fixtures';
import type { PoisonOperation } from './history';
import { failureCode } from './load';

/*
 * Requests carrying a NUL or a lone surrogate in one text field each: every intake text field the fixtures fill,
 * a note, a close note, the actor header, the Idempotency-Key header, and list filters. Each byte follows a marker
 * unique to the request, so the checker can grep the processes' logs for text that should never be there.
 */

const NUL = '\u0000';
const SURROGATE = '\ud800';

type Byte = PoisonOperation['byte'];
const charOf = (byte: Byte) => (byte === 'NUL' ? NUL : SURROGATE);

/** Intake fields to poison, as a path into the fixture and a setter. */
const intakeFields: { field: string; set: (intake: LeadIntakeInput, text: string) => LeadIntakeInput }[] = [
  { field: 'intake.summary', set: (i, t) => ({ ...i, summary: t }) },
  { field: 'intake.externalReference', set: (i, t) => ({ ...i, externalReference: t }) },
  { field: 'intake.partner.name', set: (i, t) => ({ ...i, partner: { ...i.partner, name: t } }) },
  { field: 'intake.partner.organisation', set: (i, t) => ({ ...i, partner: { ...i.partner, organisation: t } }) },
  { field: 'intake.location.city', set: (i, t) => ({ ...i, location: { ...i.location, city: t } }) },
  {
    field: 'intake.potentialVictims[0].name',
    set: (i, t) => ({ ...i, potentialVictims: [{ ...(i.potentialVictims?.[0] ?? {}), name: t }] }),
  },
];

export async function sendPoison(options: {
  apiUrl: string;
  authorization: { submit: string; command: string };
  tag: string;
  /** An open lead for the command cases; its later commands must still work (not frozen). */
  targetLeadId: string;
  timeoutMs: number;
}): Promise<PoisonOperation[]> {
  const base = sampleIntakeInputs()['newark-interview-request'] as LeadIntakeInput;
  const out: PoisonOperation[] = [];
  let n = 0;
  const next = (field: string, byte: Byte, mode: 'sync' | 'async'): PoisonOperation => ({
    id: n,
    field,
    byte,
    mode,
    marker: `PZN${options.tag}X${n++}Q`,
    sentAt: Date.now(),
  });

  const jobs: Promise<void>[] = [];
  for (const byte of ['NUL', 'lone surrogate'] as const) {
    for (const { field, set } of intakeFields) {
      for (const mode of ['sync', 'async'] as const) {
        const op = next(field, byte, mode);
        op.key = `faults-${options.tag}-poison-${op.id}`;
        op.leadId = leadIdForSubmission(op.key);
        const text = `${op.marker}${charOf(byte)}tail`;
        const intake = set({ ...base, externalReference: op.key }, text);
        const headers: Record<string, string> = {
          'content-type': 'application/json',
          authorization: options.authorization.submit,
          'idempotency-key': op.key,
        };
        if (mode === 'async') headers.prefer = 'respond-async';
        jobs.push(post(options, op, '/leads', headers, intake));
        out.push(op);
      }
    }
    for (const [command, field, data] of [
      ['AddNote', 'AddNote.text', (t: string) => ({ text: t })],
      ['CloseLead', 'CloseLead.note', (t: string) => ({ reason: 'other', note: t })],
    ] as const) {
      const op = next(field, byte, 'sync');
      op.leadId = options.targetLeadId;
      op.commandId = `faults-${options.tag}-poison-${op.id}`;
      const body = { data: data(`${op.marker}${charOf(byte)}tail`), commandId: op.commandId };
      jobs.push(
        post(
          options,
          op,
          `/leads/${options.targetLeadId}/commands/${command}`,
          { 'content-type': 'application/json', authorization: options.authorization.command },
          body,
        ),
      );
      out.push(op);
    }
    // A URL carries UTF-8 bytes, in which a lone surrogate cannot be written (a server reads %ED%A0%80 as U+FFFD,
    // harmless): the list filters get the NUL only.
    for (const field of byte === 'NUL' ? (['office', 'status'] as const) : []) {
      const op = next(`query.${field}`, byte, 'sync');
      jobs.push(get(options, op, `/leads?${field}=${encodeURIComponent(op.marker)}%00`));
      out.push(op);
    }
  }
  // Headers cannot carry a lone surrogate (HTTP gives bytes; a surrogate is no byte sequence of UTF-8), and fetch
  // refuses to send a NUL in one: these go over a raw socket.
  for (const header of ['x-actor', 'idempotency-key'] as const) {
    const op = next(`header.${header}`, 'NUL', 'sync');
    op.key = header === 'idempotency-key' ? undefined : `faults-${options.tag}-poison-${op.id}`;
    op.leadId = op.key === undefined ? undefined : leadIdForSubmission(op.key);
    const value = `${op.marker}${NUL}tail`;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      authorization: options.authorization.submit,
      // The API reads no X-Actor any more, but Node's parser still refuses a NUL in any header: answered 400 all the same.
      ...(header === 'x-actor' ? { 'x-actor': value } : {}),
      'idempotency-key': header === 'idempotency-key' ? value : (op.key as string),
    };
    const body = JSON.stringify({ ...base, externalReference: `faults-${options.tag}-poison-h${op.id}` });
    jobs.push(raw(options, op, 'POST', '/leads', headers, body));
    out.push(op);
  }
  await Promise.all(jobs);
  // The lead the poison was aimed at takes a clean command at once: a poison byte must not freeze it.
  for (const command of ['AddNote', 'AddNote'] as const) {
    const op = next(`follow-up.${command}`, 'NUL', 'sync');
    op.clean = true;
    op.leadId = options.targetLeadId;
    op.commandId = `faults-${options.tag}-after-poison-${op.id}`;
    await post(
      options,
      op,
      `/leads/${options.targetLeadId}/commands/${command}`,
      { 'content-type': 'application/json', authorization: options.authorization.command },
      { data: { text: 'a clean note after the poison' }, commandId: op.commandId },
    );
    out.push(op);
  }
  return out;
}

async function post(
  options: { apiUrl: string; timeoutMs: number },
  op: PoisonOperation,
  path: string,
  headers: Record<string, string>,
  body: unknown,
) {
  await request(options, op, path, { method: 'POST', headers, body: JSON.stringify(body) });
}

async function get(
  options: { apiUrl: string; timeoutMs: number; authorization: { command: string } },
  op: PoisonOperation,
  path: string,
) {
  await request(options, op, path, { method: 'GET', headers: { authorization: options.authorization.command } });
}

async function request(
  options: { apiUrl: string; timeoutMs: number },
  op: PoisonOperation,
  path: string,
  init: RequestInit,
) {
  op.sentAt = Date.now();
  try {
    const response = await fetch(`${options.apiUrl}${path}`, {
      ...init,
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    await response.arrayBuffer();
    op.status = response.status;
  } catch (error) {
    op.status = null;
    op.error = failureCode(error);
  }
  op.doneAt = Date.now();
}

/** One HTTP/1.1 request written byte for byte; the status is read from the answer's first line. */
function raw(
  options: { apiUrl: string; timeoutMs: number },
  op: PoisonOperation,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string,
): Promise<void> {
  const url = new URL(options.apiUrl);
  op.sentAt = Date.now();
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname);
    let answer = '';
    const done = (status: number | null, error?: string) => {
      if (op.doneAt !== undefined) return;
      op.status = status;
      if (error !== undefined) op.error = error;
      op.doneAt = Date.now();
      socket.destroy();
      resolve();
    };
    socket.setTimeout(options.timeoutMs, () => done(null, 'timeout'));
    socket.on('error', (error) => done(null, failureCode(error)));
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      const line = /^HTTP\/1\.[01] (\d{3})/.exec(answer);
      if (line !== null) done(Number(line[1]));
    });
    socket.on('close', () => done(null, 'closed'));
    socket.on('connect', () => {
      const lines = [
        `${method} ${path} HTTP/1.1`,
        `host: ${url.host}`,
        ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
        `content-length: ${Buffer.byteLength(body)}`,
        'connection: close',
        '',
        '',
      ];
      socket.write(Buffer.concat([Buffer.from(lines.join('\r\n'), 'latin1'), Buffer.from(body)]));
    });
  });
}
