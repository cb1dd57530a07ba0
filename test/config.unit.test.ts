import { describe, expect, it } from 'vitest';
import { DEVELOPMENT_FINGERPRINT_KEY, readEnv } from '../activities/config';

describe('LEADLINE_TEMPORAL_UI', () => {
  it('is the dev server’s embedded UI unless told otherwise', () => {
    expect(readEnv({}).LEADLINE_TEMPORAL_UI).toBe('embedded');
    expect(readEnv({ LEADLINE_TEMPORAL_UI: '' }).LEADLINE_TEMPORAL_UI).toBe('embedded');
    expect(readEnv({ LEADLINE_TEMPORAL_UI: 'server' })).toMatchObject({
      LEADLINE_TEMPORAL_UI: 'server',
      LEADLINE_TEMPORAL_UI_CODEC_PORT: 3443,
    });
  });

  it('names the variable and the values it takes when the value is another', () => {
    expect(() => readEnv({ LEADLINE_TEMPORAL_UI: 'standalone' })).toThrow(
      /LEADLINE_TEMPORAL_UI: must be embedded .* or server/,
    );
  });

  it('refuses server where npm start runs no dev server or no API', () => {
    expect(() => readEnv({ LEADLINE_TEMPORAL_UI: 'server', TEMPORAL_ADDRESS: 'temporal:7233' })).toThrow(
      /LEADLINE_TEMPORAL_UI: server runs against the dev server npm start runs: unset TEMPORAL_ADDRESS/,
    );
    expect(() => readEnv({ LEADLINE_TEMPORAL_UI: 'server', LEADLINE_ROLE: 'worker' })).toThrow(
      /LEADLINE_TEMPORAL_UI: server needs the API in this process, not LEADLINE_ROLE=worker/,
    );
  });

  it('wants the UI’s own client at an agency’s provider', () => {
    const agency = { LEADLINE_TEMPORAL_UI: 'server', LEADLINE_OIDC_ISSUER: 'https://idp.example.gov' };
    expect(() => readEnv(agency)).toThrow(/TEMPORAL_UI_OIDC_CLIENT_ID: needed when LEADLINE_TEMPORAL_UI is server/);
    expect(() => readEnv(agency)).toThrow(/TEMPORAL_UI_OIDC_CLIENT_SECRET: needed/);
    expect(
      readEnv({ ...agency, TEMPORAL_UI_OIDC_CLIENT_ID: 'ui', TEMPORAL_UI_OIDC_CLIENT_SECRET: 's' })
        .LEADLINE_TEMPORAL_UI,
    ).toBe('server');
  });
});

describe('LEADLINE_FINGERPRINT_KEY', () => {
  it('keeps the public development key to npm start’s single process, and refuses it to a worker or an API of its own', () => {
    expect(readEnv({}).LEADLINE_FINGERPRINT_KEY).toBe(DEVELOPMENT_FINGERPRINT_KEY);
    for (const role of ['worker', 'api']) {
      const split = { LEADLINE_ROLE: role, DATABASE_URL: 'postgres://x', TEMPORAL_ADDRESS: 't:7233' };
      const withIssuer = role === 'api' ? { ...split, LEADLINE_OIDC_ISSUER: 'https://idp.example.gov' } : split;
      expect(() => readEnv(withIssuer)).toThrow(
        new RegExp(`LEADLINE_FINGERPRINT_KEY: set a secret of your own when LEADLINE_ROLE is ${role}`),
      );
      expect(readEnv({ ...withIssuer, LEADLINE_FINGERPRINT_KEY: 'an-agency-secret' }).LEADLINE_FINGERPRINT_KEY).toBe(
        'an-agency-secret',
      );
    }
  });
});

describe('LEADLINE_WORKFLOW_TASK_TIMEOUT', () => {
  it('is 5 s unless told otherwise, whole seconds from 2 to the 120 Temporal allows', () => {
    expect(readEnv({}).LEADLINE_WORKFLOW_TASK_TIMEOUT).toBe(5);
    expect(readEnv({ LEADLINE_WORKFLOW_TASK_TIMEOUT: '10' }).LEADLINE_WORKFLOW_TASK_TIMEOUT).toBe(10);
    for (const refused of ['121', '0', '0.01', '1']) {
      expect(() => readEnv({ LEADLINE_WORKFLOW_TASK_TIMEOUT: refused })).toThrow(/LEADLINE_WORKFLOW_TASK_TIMEOUT/);
    }
  });
});

describe('LEADLINE_DB_QUERY_TIMEOUT', () => {
  it('is 10 s unless told otherwise, whole seconds from 1 to 600, and names itself when refused', () => {
    expect(readEnv({}).LEADLINE_DB_QUERY_TIMEOUT).toBe(10);
    expect(readEnv({ LEADLINE_DB_QUERY_TIMEOUT: '30' }).LEADLINE_DB_QUERY_TIMEOUT).toBe(30);
    for (const refused of ['0', '601', '2.5', '-1', 'ten', '1\u0000', '9'.repeat(100_000)]) {
      expect(() => readEnv({ LEADLINE_DB_QUERY_TIMEOUT: refused })).toThrow(/LEADLINE_DB_QUERY_TIMEOUT/);
    }
  });
});
