import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Where a frame's code lives: an npm package, a project folder, or Node/V8 itself. */
function ownerOf(url: string, functionName: string): string {
  if (url === '')
    return functionName === '(garbage collector)' ? '(gc)' : functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg?.[1] !== undefined) return pkg[1];
  if (url.startsWith('node:')) return 'node:internal';
  const project = /\/(activities|client|domain|schemas|workflows|worker|bench)\//.exec(url);
  if (project?.[1] !== undefined) return `leadline/${project[1]}`;
  return url.includes('webpack') || url.includes('workflow-bundle') ? 'workflow bundle' : 'other';
}

function selfTimes(profile: CpuProfile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = profile.endTime - profile.startTime;
  const fn = new Map<string, number>();
  const owner = new Map<string, number>();
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (node === undefined) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const short = url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/main\//, '');
    const key = `${functionName || '(anonymous)'} ${short}${url ? `:${lineNumber + 1}` : ''}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    const o = ownerOf(url, functionName);
    owner.set(o, (owner.get(o) ?? 0) + us);
  }
  return { total, fn, owner };
}

const top = (m: Map<string, number>, total: number, n: number) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(
      ([k, us]) => `  ${((us / total) * 100).toFixed(1).padStart(5)} %  ${(us / 1e6).toFixed(1).padStart(6)} s  ${k}`,
    );

/** Self time by package and by function, per thread profile the Leadline process wrote. */
export async function summarizeProfiles(dir: string, n = 20): Promise<string> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) return `no CPU profiles in ${dir}`;
  const out: string[] = [`CPU profiles of the Leadline process (${dir}):`];
  for (const file of files.sort()) {
    const profile = JSON.parse(await readFile(join(dir, file), 'utf8')) as CpuProfile;
    const { total, fn, owner } = selfTimes(profile);
    out.push(`\n${file}: ${(total / 1e6).toFixed(1)} s profiled`, ' by owner:', ...top(owner, total, 12));
    out.push(' by function:', ...top(fn, total, n));
  }
  return out.join('\n');
}

const isMain = process.argv[1]?.endsWith('profile-summary.ts') === true;
if (isMain) {
  const dir = process.argv[2];
  if (dir === undefined) {
    console.error('usage: node --import tsx bench/profile-summary.ts <dir of .cpuprofile files>');
    process.exit(2);
  }
  summarizeProfiles(dir).then(console.log, (error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
