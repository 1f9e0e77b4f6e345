import { describe, expect, it } from 'vitest';
import { describeWith } from './describe-with.ts';
import { eventStoreHttpUrl, getEventStoreDb } from './eventstoredb.ts';

describe('eventStoreHttpUrl', () => {
  it('maps esdb connection strings to the node HTTP endpoint', () => {
    expect(eventStoreHttpUrl('esdb://127.0.0.1:2113?tls=false')).toBe('http://127.0.0.1:2113');
    expect(eventStoreHttpUrl('esdb://es.example:2113')).toBe('https://es.example:2113');
    expect(eventStoreHttpUrl('esdb+discover://a:2113,b:2113?tls=false')).toBe('http://a:2113');
  });
});

describe('getEventStoreDb', () => {
  it('answers with a URL or a reason, never an exception', async () => {
    const es = await getEventStoreDb();
    if ('skip' in es) expect(es.skip).toMatch(/^no EventStoreDB: /);
    else expect(es.url).toMatch(/^esdb(\+discover)?:\/\//);
  });
});

describeWith(getEventStoreDb(), 'EventStoreDB from the kit', (es) => {
  it('is live', async () => {
    const res = await fetch(`${eventStoreHttpUrl(es.url)}/health/live`);
    expect(res.status).toBe(204);
  });
});
