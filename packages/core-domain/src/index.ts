export * from './events.ts';
export * from './numbers.ts';
export * from './book/types.ts';
export * from './book/factory.ts';
export { ReferenceBook } from './book/reference-book.ts';
export { FastBook } from './book/fast-book.ts';
export { canonicalSnapshot, hashSnapshot } from './book/common.ts';
