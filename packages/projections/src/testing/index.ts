export * from './simulator.ts';
export * from './memory-store.ts';
export { WriteSide, WRITE_SIDE_MARKET, type PlaceOptions } from './write-side.ts';
