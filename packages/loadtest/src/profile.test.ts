import { describe, expect, it } from 'vitest';
import { groupOf, summarizeProfile, type CpuProfile } from './profile.ts';

describe('cpu profile summary', () => {
  it('groups script URLs by package', () => {
    expect(groupOf('file:///work/main/packages/engine/src/risk-handler.ts', 'f')).toBe('@tradecore/engine');
    expect(groupOf('file:///work/main/node_modules/.pnpm/pg@8.23.1/node_modules/pg/lib/client.js', 'f')).toBe('pg');
    expect(groupOf('file:///x/node_modules/.pnpm/@fastify+ajv@1/node_modules/@fastify/ajv/index.js', 'f')).toBe('@fastify/ajv');
    expect(groupOf('node:internal/streams/writable', 'f')).toBe('node core');
    expect(groupOf('', '(garbage collector)')).toBe('(garbage collector)');
    expect(groupOf('', '(idle)')).toBe('(idle)');
  });

  it('adds self time per function from samples and deltas, excluding idle from the shares', () => {
    const frame = (functionName: string, url: string, lineNumber = 0) => ({ functionName, url, lineNumber });
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: frame('(root)', ''), children: [2, 3, 4] },
        { id: 2, callFrame: frame('(idle)', '') },
        { id: 3, callFrame: frame('decide', 'file:///r/packages/core-domain/src/account.ts', 9) },
        { id: 4, callFrame: frame('query', 'file:///r/node_modules/.pnpm/pg@8/node_modules/pg/lib/client.js') },
      ],
      startTime: 0,
      endTime: 4000,
      samples: [3, 3, 4, 2],
      timeDeltas: [0, 1000, 1000, 1000],
    };
    const s = summarizeProfile(profile);
    expect(s.totalMs).toBe(4);
    expect(s.idleMs).toBe(1);
    expect(s.busyMs).toBe(3);
    expect(s.top[0]).toMatchObject({ name: 'decide', where: 'packages/core-domain/src/account.ts:10', group: '@tradecore/core-domain', ms: 2 });
    expect(s.groups.map((g) => g.group)).toEqual(['@tradecore/core-domain', 'pg']);
    expect(s.groups[0]!.pct).toBeCloseTo(66.7, 1);
    expect(s.stages).toEqual([
      { stage: '@tradecore/core-domain', ms: 2, pct: 66.7 },
      { stage: '(no tradecore frame: pg)', ms: 1, pct: 33.3 },
    ]);
  });

  it('keeps only the samples inside a window', () => {
    const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 0 });
    const s = summarizeProfile(
      {
        nodes: [
          { id: 1, callFrame: frame('(root)', ''), children: [2, 3] },
          { id: 2, callFrame: frame('setup', 'file:///r/packages/command-api/src/a.ts') },
          { id: 3, callFrame: frame('load', 'file:///r/packages/engine/src/b.ts') },
        ],
        startTime: 0,
        endTime: 4000,
        samples: [2, 2, 3, 3],
        timeDeltas: [0, 1000, 1000, 1000],
      },
      10,
      { fromUs: 1500, toUs: 3500 },
    );
    expect(s.stages).toEqual([{ stage: '@tradecore/engine', ms: 2, pct: 100 }]);
  });

  it('attributes a library frame to the nearest Tradecore caller', () => {
    const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 0 });
    const s = summarizeProfile({
      nodes: [
        { id: 1, callFrame: frame('(root)', ''), children: [2] },
        { id: 2, callFrame: frame('project', 'file:///r/packages/projections/src/projector.ts'), children: [3] },
        { id: 3, callFrame: frame('query', 'file:///r/node_modules/pg/lib/client.js') },
      ],
      startTime: 0,
      endTime: 2000,
      samples: [3, 3],
      timeDeltas: [0, 1000],
    });
    expect(s.stages).toEqual([{ stage: '@tradecore/projections', ms: 2, pct: 100 }]);
    expect(s.groups).toEqual([{ group: 'pg', ms: 2, pct: 100 }]);
  });
});
