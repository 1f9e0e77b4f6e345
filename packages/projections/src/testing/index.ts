export * from './simulator.ts';
export * from './memory-store.ts';
