import { describe, expect, it } from 'vitest';
import { DEFAULT_FETCH, consumerFetch, fetchTuningOf } from './kafka-engine.ts';

describe("a consumer's fetch", () => {
  it('takes what the tuning gives and DEFAULT_FETCH for what it leaves out', () => {
    expect(consumerFetch()).toEqual(DEFAULT_FETCH);
    expect(consumerFetch({ minBytes: 1 })).toEqual({ minBytes: 1, maxWaitTimeInMs: DEFAULT_FETCH.maxWaitTimeInMs });
    expect(consumerFetch({ maxWaitTimeInMs: 250 })).toEqual({ minBytes: DEFAULT_FETCH.minBytes, maxWaitTimeInMs: 250 });
  });

  it("reads a process's KAFKA_FETCH_* settings, leaving unset ones to the default", () => {
    expect(consumerFetch(fetchTuningOf({}))).toEqual(DEFAULT_FETCH);
    expect(consumerFetch(fetchTuningOf({ KAFKA_FETCH_MIN_BYTES: 1, KAFKA_FETCH_MAX_WAIT_MS: 100 }))).toEqual({ minBytes: 1, maxWaitTimeInMs: 100 });
  });
});
