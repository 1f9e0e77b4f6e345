/**
 * Summary of a V8 `.cpuprofile` (node --cpu-prof): self time per function and per package, so a
 * run can say where the server's CPU goes.
 */

export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber?: number }; hitCount?: number; children?: number[] }[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface SelfTime {
  name: string;
  where: string;
  group: string;
  ms: number;
  /** Share of the busy (non-idle) time, percent. */
  pct: number;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  busyMs: number;
  top: SelfTime[];
  groups: { group: string; ms: number; pct: number }[];
  /**
   * Busy time by stage: each sample goes to the nearest Tradecore package on its (synchronous)
   * stack, leaf first — so pg or zod work called from the projections counts as projections.
   * Work whose stack holds no Tradecore frame (socket reads, pg's row parsing after an await,
   * GC) is `(no tradecore frame: <package>)`.
   */
  stages: { stage: string; ms: number; pct: number }[];
}

/** The package (or runtime part) a script URL belongs to. */
export function groupOf(url: string, functionName: string): string {
  if (!url) {
    if (functionName === '(garbage collector)') return '(garbage collector)';
    if (functionName === '(idle)') return '(idle)';
    if (functionName === '(program)') return '(program)';
    return '(native)';
  }
  if (url.startsWith('node:')) return 'node core';
  const pnpm = /node_modules\/\.pnpm\/[^/]+\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pnpm) return pnpm[1]!;
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (nm) return nm[1]!;
  const ws = /\/packages\/([^/]+)\//.exec(url);
  if (ws) return `@tradecore/${ws[1]}`;
  return 'other';
}

function shortWhere(url: string, line: number): string {
  if (!url) return '';
  const u = url.replace(/^file:\/\//, '');
  const ws = /\/(packages\/.+)$/.exec(u);
  const pnpm = /node_modules\/\.pnpm\/[^/]+\/node_modules\/(.+)$/.exec(u);
  const path = ws?.[1] ?? pnpm?.[1] ?? u.split('/').slice(-2).join('/');
  return `${path}:${line + 1}`;
}

/**
 * `window`: only samples taken between these offsets (µs) from the profile's start — e.g. the load
 * phase of a run, leaving out start-up, setup and shutdown.
 */
export function summarizeProfile(profile: CpuProfile, topN = 25, window?: { fromUs: number; toUs: number }): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  if (samples.length > 0) {
    const mean = (profile.endTime - profile.startTime) / samples.length;
    let at = 0;
    for (let i = 0; i < samples.length; i++) {
      at += deltas[i] ?? 0;
      if (window && (at < window.fromUs || at > window.toUs)) continue;
      // A sample lasts until the next one.
      const d = i + 1 < deltas.length ? deltas[i + 1]! : mean;
      selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + Math.max(0, d));
    }
  } else {
    const interval = 1000;
    for (const n of profile.nodes) if (n.hitCount) selfUs.set(n.id, n.hitCount * interval);
  }
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stageOf = new Map<number, string>();
  const stageFor = (id: number): string => {
    const known = stageOf.get(id);
    if (known !== undefined) return known;
    const leaf = byId.get(id);
    let stage: string | undefined;
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (!n) break;
      const g = groupOf(n.callFrame.url, n.callFrame.functionName);
      if (g.startsWith('@tradecore/')) {
        stage = g;
        break;
      }
    }
    const result = stage ?? `(no tradecore frame: ${leaf ? groupOf(leaf.callFrame.url, leaf.callFrame.functionName || '(anonymous)') : '?'})`;
    stageOf.set(id, result);
    return result;
  };
  const stages = new Map<string, number>();
  const fns = new Map<string, { name: string; where: string; group: string; us: number }>();
  const groups = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (!n) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    const name = functionName || '(anonymous)';
    const group = groupOf(url, name);
    total += us;
    if (group === '(idle)') {
      idle += us;
      continue;
    }
    const where = shortWhere(url, lineNumber);
    const key = `${name}@${where}`;
    const f = fns.get(key) ?? { name, where, group, us: 0 };
    f.us += us;
    fns.set(key, f);
    groups.set(group, (groups.get(group) ?? 0) + us);
    const stage = stageFor(id);
    stages.set(stage, (stages.get(stage) ?? 0) + us);
  }
  const busy = total - idle;
  const pct = (us: number) => (busy > 0 ? Math.round((us / busy) * 1000) / 10 : 0);
  return {
    totalMs: Math.round(total / 1000),
    idleMs: Math.round(idle / 1000),
    busyMs: Math.round(busy / 1000),
    top: [...fns.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, topN)
      .map((f) => ({ name: f.name, where: f.where, group: f.group, ms: Math.round(f.us / 1000), pct: pct(f.us) })),
    groups: [...groups.entries()].sort((a, b) => b[1] - a[1]).map(([group, us]) => ({ group, ms: Math.round(us / 1000), pct: pct(us) })),
    stages: [...stages.entries()].sort((a, b) => b[1] - a[1]).map(([stage, us]) => ({ stage, ms: Math.round(us / 1000), pct: pct(us) })),
  };
}
