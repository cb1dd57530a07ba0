import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { leadSearchAttributes } from '../workflows/messages';

// docker-compose.yml and .env.example, read as an operator would: no Docker engine runs here, so what can be checked
// without one is checked (the file's validity with docker-compose itself, and what it must agree with in the code).
const compose = readFileSync('docker-compose.yml', 'utf8');
const envExample = readFileSync('.env.example', 'utf8');

const cliType: Record<string, string> = {
  KEYWORD: 'Keyword',
  INT: 'Int',
  DATETIME: 'Datetime',
  TEXT: 'Text',
  DOUBLE: 'Double',
  BOOL: 'Bool',
  KEYWORD_LIST: 'KeywordList',
};

describe('the deployment (docker-compose.yml, .env.example)', () => {
  it("registers exactly the workflow's search attributes, with their types", () => {
    const registered = [...compose.matchAll(/--name (\w+) --type (\w+)/g)].map(([, name, type]) => `${name}:${type}`);
    const expected = Object.values(leadSearchAttributes).map((key) => `${key.name}:${cliType[key.type]}`);
    expect(registered.sort()).toEqual(expected.sort());
  });

  it('hides no failure and mounts no source', () => {
    expect(compose).not.toMatch(/\|\|\s*true/);
    expect(compose).not.toMatch(/^\s*-\s*['"]?\.{0,2}\//m);
  });

  it('.env.example names every variable the compose file reads', () => {
    const used = new Set([...compose.matchAll(/\$\{(\w+)/g)].map(([, name]) => name));
    const defined = new Set([...envExample.matchAll(/^(\w+)=/gm)].map(([, name]) => name));
    expect([...used].filter((name) => !defined.has(name))).toEqual([]);
    expect([...defined].filter((name) => !used.has(name))).toEqual([]);
  });

  const hasCompose = spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0;
  // CI installs docker-compose (.ci/run); a developer without it is told rather than failed.
  it.skipIf(!hasCompose && !process.env.CI)('docker-compose config accepts it with .env.example as .env', () => {
    const dir = mkdtempSync(join(tmpdir(), 'leadline-compose-'));
    try {
      copyFileSync('docker-compose.yml', join(dir, 'docker-compose.yml'));
      copyFileSync('.env.example', join(dir, '.env'));
      const config = execFileSync('docker-compose', ['config'], { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
      expect(config).toContain('temporalio/server:1.32.2');
      expect(config).toContain('temporalio/ui:2.54.1');
      // The UI signs in, passes the user's token to the API's codec, and offers no cancel or terminate.
      for (const setting of [
        'TEMPORAL_AUTH_ENABLED: "true"',
        'TEMPORAL_CODEC_PASS_ACCESS_TOKEN: "true"',
        'TEMPORAL_CODEC_ENDPOINT: http://localhost:3000/codec',
        'TEMPORAL_WORKFLOW_CANCEL_DISABLED: "true"',
        'TEMPORAL_WORKFLOW_TERMINATE_DISABLED: "true"',
        'TEMPORAL_DISABLE_WRITE_ACTIONS: "true"',
      ]) {
        expect(config).toContain(setting);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
