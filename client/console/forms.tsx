/**
 * A form for each command, drawn from the same zod schema the API validates with (schemas/commands.ts): its
 * fields, their kinds and limits come from the schema's JSON Schema, and the data is checked with the schema before
 * it is sent, so a mistake is named beside its field. The API's own refusals land beside the field it names, or
 * at the top of the form.
 */
import { useMemo, useRef, useState } from 'preact/hooks';
import { z } from 'zod';
import { commandData } from '../../schemas/commands';
import { ApiError, api, type Problem } from './api';

interface Field {
  name: string;
  label: string;
  /** `flag`: a yes/no the command needs; `maybe`: an optional yes/no, left unsaid unless chosen. */
  kind: 'text' | 'long-text' | 'choice' | 'flag' | 'maybe' | 'instant';
  choices: string[];
  required: boolean;
  maxLength: number | undefined;
}

/** Fields people fill in; `routed` is the workflow's own mark on its routing. */
const HIDDEN = new Set(['routed']);

const labelOf = (name: string) => {
  const words = name.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
};

interface JsonProperty {
  type?: string;
  enum?: string[];
  format?: string;
  maxLength?: number;
  pattern?: string;
}

export function fieldsOf(type: string): Field[] {
  const schema = commandData[type as keyof typeof commandData];
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, JsonProperty>;
    required?: string[];
  };
  return Object.entries(json.properties ?? {})
    .filter(([name]) => !HIDDEN.has(name))
    .map(([name, property]) => ({
      name,
      label: labelOf(name),
      kind:
        property.enum !== undefined
          ? 'choice'
          : property.type === 'boolean'
            ? (json.required ?? []).includes(name)
              ? 'flag'
              : 'maybe'
            : property.format === 'date-time'
              ? 'instant'
              : (property.maxLength ?? 0) > 300
                ? 'long-text'
                : 'text',
      choices: property.enum ?? [],
      required: (json.required ?? []).includes(name),
      maxLength: property.maxLength,
    }));
}

/** From the form's strings to the command's data: empty optional fields are left out. */
function dataOf(fields: Field[], values: Record<string, string | boolean>): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  for (const field of fields) {
    const value = values[field.name];
    if (field.kind === 'flag') data[field.name] = value === true;
    else if (field.kind === 'maybe') {
      if (value === 'yes' || value === 'no') data[field.name] = value === 'yes';
    } else if (typeof value === 'string' && value.trim() !== '') {
      data[field.name] = field.kind === 'instant' ? new Date(value).toISOString() : value;
    }
  }
  return data;
}

export function CommandForm(props: {
  leadId: string;
  type: string;
  title: string;
  offices: string[];
  officeName: (id: string) => string;
  onDone: () => void;
  onCancel: () => void;
  onError: (error: unknown) => void;
}) {
  const fields = useMemo(() => fieldsOf(props.type), [props.type]);
  const [values, setValues] = useState<Record<string, string | boolean>>({});
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [problem, setProblem] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  // One id per filled-in form: a retry after a lost answer is recorded once (the API's commandId).
  const commandId = useRef(crypto.randomUUID());
  const formId = `command-${props.type}`;

  const submit = async (event: Event) => {
    event.preventDefault();
    const data = dataOf(fields, values);
    const schema = commandData[props.type as keyof typeof commandData];
    const checked = schema.safeParse(data);
    if (!checked.success) {
      const named: Record<string, string> = {};
      for (const issue of checked.error.issues) {
        const field = String(issue.path[0] ?? '');
        named[field] ??= issue.message;
      }
      setErrors(named);
      setProblem('Check the fields marked below.');
      return;
    }
    setErrors({});
    setProblem(null);
    setSending(true);
    try {
      await api(`/leads/${props.leadId}/commands/${props.type}`, {
        method: 'POST',
        body: { data, commandId: commandId.current },
      });
      props.onDone();
    } catch (error) {
      props.onError(error);
      if (error instanceof ApiError) showProblem(error.problem);
      else setProblem((error as Error).message);
    } finally {
      setSending(false);
    }
  };

  const showProblem = (body: Problem) => {
    const named: Record<string, string> = {};
    for (const issue of body.issues ?? []) {
      const field = issue.path.replace(/^(body\.)?data\./, '').split('.')[0] ?? '';
      if (fields.some((f) => f.name === field)) named[field] ??= issue.message;
    }
    setErrors(named);
    // A safety rule's refusal already names each rule and what would satisfy it.
    setProblem(body.detail);
  };

  return (
    <form class="command" id={formId} onSubmit={(e) => void submit(e)} noValidate aria-labelledby={`${formId}-title`}>
      <h3 id={`${formId}-title`}>{props.title}</h3>
      {problem !== null && (
        <p role="alert" class="error">
          {problem}
        </p>
      )}
      {fields.length === 0 && <p>Nothing more to fill in.</p>}
      {fields.map((field) => {
        const id = `${formId}-${field.name}`;
        const error = errors[field.name];
        const common = {
          id,
          name: field.name,
          'aria-invalid': error !== undefined ? ('true' as const) : undefined,
          'aria-describedby': error !== undefined ? `${id}-error` : undefined,
          required: field.required,
        };
        const text = (values[field.name] as string | undefined) ?? '';
        const set = (value: string | boolean) => setValues({ ...values, [field.name]: value });
        return (
          <div class={`field ${field.kind}`} key={field.name}>
            {field.kind === 'flag' ? (
              <label class="check">
                <input
                  type="checkbox"
                  {...common}
                  checked={values[field.name] === true}
                  onChange={(e) => set(e.currentTarget.checked)}
                />
                {field.label}
              </label>
            ) : (
              <>
                <label for={id}>
                  {field.label}
                  {field.required ? '' : ' (optional)'}
                </label>
                {field.kind === 'maybe' ? (
                  <select {...common} value={text} onChange={(e) => set(e.currentTarget.value)}>
                    <option value="">Not said</option>
                    <option value="yes">Yes</option>
                    <option value="no">No</option>
                  </select>
                ) : field.kind === 'choice' || (field.name === 'office' && props.offices.length > 0) ? (
                  <select {...common} value={text} onChange={(e) => set(e.currentTarget.value)}>
                    <option value="">Choose…</option>
                    {(field.kind === 'choice' ? field.choices : props.offices).map((choice) => (
                      <option key={choice} value={choice}>
                        {field.name === 'office' ? props.officeName(choice) : choice.replace(/_/g, ' ')}
                      </option>
                    ))}
                  </select>
                ) : field.kind === 'long-text' ? (
                  <textarea
                    {...common}
                    rows={4}
                    maxLength={field.maxLength}
                    value={text}
                    onInput={(e) => set(e.currentTarget.value)}
                  />
                ) : field.kind === 'instant' ? (
                  <input {...common} type="datetime-local" value={text} onInput={(e) => set(e.currentTarget.value)} />
                ) : (
                  <input
                    {...common}
                    type="text"
                    maxLength={field.maxLength}
                    value={text}
                    onInput={(e) => set(e.currentTarget.value)}
                  />
                )}
              </>
            )}
            {error !== undefined && (
              <p class="field-error" id={`${id}-error`}>
                {error}
              </p>
            )}
          </div>
        );
      })}
      <div class="actions">
        <button type="submit" class="primary" disabled={sending}>
          {sending ? 'Sending…' : props.title}
        </button>
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
