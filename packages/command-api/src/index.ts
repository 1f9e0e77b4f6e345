export * from './app.ts';
export * from './context.ts';
export * from './directories.ts';
export * from './passwords.ts';
export { listMarket, MARKET_DEFAULTS, type ListMarketInput } from './routes/admin.ts';
export { registerUser } from './routes/auth.ts';
export { ORDER_ID_NAMESPACE } from './routes/orders.ts';
