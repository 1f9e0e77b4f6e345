import { orderBookSuite } from './book.suite.ts';
import { createOrderBook } from './factory.ts';

orderBookSuite('reference', () => createOrderBook('reference'));
orderBookSuite('fast', () => createOrderBook('fast'));
