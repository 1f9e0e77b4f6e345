import { describe, expect, it } from 'vitest';
import { EventStoreUnavailableError } from '@tradecore/event-store';
import { EventSchemaError } from '@tradecore/core-domain';
import { classify, CliError, ExitCode } from './errors.ts';

describe('classify', () => {
  it('maps errors to the documented exit codes', () => {
    expect(classify(new CliError(ExitCode.NOT_FOUND, 'no such order')).code).toBe(66);
    expect(classify(new EventStoreUnavailableError('down')).code).toBe(69);
    expect(classify(new EventSchemaError('OrderPlaced', 'bad')).code).toBe(65);
    expect(classify(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })).code).toBe(69);
    expect(classify(Object.assign(new Error('permission denied for table events'), { code: '42501' }))).toEqual({
      code: 69,
      message: 'PostgreSQL: permission denied for table events (42501)',
    });
    expect(classify(Object.assign(new Error('terminating connection'), { code: '57P01' })).code).toBe(69);
    expect(classify(Object.assign(new Error('syntax error'), { code: '42601' })).code).toBe(70);
    expect(classify(new TypeError('x is undefined')).code).toBe(70);
  });
});
