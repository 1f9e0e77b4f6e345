export * from './problem.ts';
export * from './auth.ts';
export * from './runtime.ts';
export * from './ops.ts';
export * from './app.ts';
export * from './service.ts';
export * from './store-metrics.ts';
