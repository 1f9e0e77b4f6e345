import { afterAll, describe, expect, it } from 'vitest';
import { kafkajsRoundTrip } from '../test/kafkajs-roundtrip.ts';
import { describeWith } from './describe-with.ts';
import { getKafka, kafkaAnswers } from './kafka.ts';

describe('getKafka', () => {
  it('gives every call its own topic prefix', async () => {
    const [a, b] = await Promise.all([getKafka(), getKafka()]);
    if ('skip' in a || 'skip' in b) {
      // Without any broker the contract is a reason, never an exception.
      expect('skip' in a && a.skip).toMatch(/^no Kafka: /);
      return;
    }
    expect(a.prefix).not.toBe(b.prefix);
    expect(a.topicPrefix('tradecore.events')).toBe(`${a.prefix}tradecore.events`);
    expect(() => a.topicPrefix('bad name')).toThrow(/not a valid Kafka topic name/);
  });

  it('kafkaAnswers() is false where nothing speaks Kafka', async () => {
    expect(await kafkaAnswers('127.0.0.1:1', 1_000)).toBe(false);
  });
});

describeWith(getKafka(), 'Kafka round trip with kafkajs on a prefixed topic', (kafka) => {
  afterAll(() => kafka.deleteTopics());

  it('produces, consumes in a group, commits and administers', async () => {
    const report = await kafkajsRoundTrip(kafka.brokers, kafka.topicPrefix('roundtrip'));
    expect(report.consumed).toBe(report.produced);
    expect(report.committedOffsets).toBe(report.produced);
    expect(report.groupState).toBe('Stable');
    expect(report.topic.startsWith(kafka.prefix)).toBe(true);
  });
});
