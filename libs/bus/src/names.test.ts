import { ID_PATTERN, InvalidIdError } from '@lockline/events';
import { describe, expect, it } from 'vitest';
import {
  InvalidPartitionError,
  UNKNOWN_HOST_TOKEN,
  deadLetterSubject,
  hostUser,
  inboxPrefixOf,
  ingestConsumerName,
  parsePartitionedSubject,
  partitionFilter,
  partitionedEventsSubject,
  QUERY_VERBS,
  querySubject,
  queryWildcard,
  SERVICE_ROLES,
} from './names.js';

describe('names', () => {
  it('partitioned subjects round-trip', () => {
    expect(partitionedEventsSubject(3, 'web-1')).toBe('lockline.v1.pevents.3.web-1');
    expect(parsePartitionedSubject('lockline.v1.pevents.3.web-1')).toEqual({ partition: 3, hostId: 'web-1' });
    expect(parsePartitionedSubject('lockline.v1.events.web-1')).toBeUndefined();
    expect(parsePartitionedSubject('lockline.v1.pevents.x.web-1')).toBeUndefined();
    expect(partitionFilter(0)).toBe('lockline.v1.pevents.0.*');
    expect(ingestConsumerName(2)).toBe('ingest-p2');
    expect(() => partitionFilter(-1)).toThrow(InvalidPartitionError);
    expect(() => partitionedEventsSubject(0, 'a.b')).toThrow(InvalidIdError);
  });

  it('the unknown-host DLQ token can never be a host id', () => {
    expect(ID_PATTERN.test(UNKNOWN_HOST_TOKEN)).toBe(false);
    expect(ID_PATTERN.test('_unknown')).toBe(true); // why not "_unknown"
    expect(deadLetterSubject(null)).toBe('lockline.v1.dlq.~unknown');
    expect(deadLetterSubject('a.b')).toBe('lockline.v1.dlq.~unknown');
    expect(deadLetterSubject('_unknown')).toBe('lockline.v1.dlq._unknown');
    expect(deadLetterSubject('h1')).toBe('lockline.v1.dlq.h1');
  });

  it('query subjects', () => {
    expect(querySubject(2, 'stateAt')).toBe('lockline.v1.query.2.stateAt');
    for (const verb of ['vmas', 'events', 'rebuild'] as const) expect(querySubject(0, verb)).toBe(`lockline.v1.query.0.${verb}`);
    expect(QUERY_VERBS).toEqual(['state', 'tree', 'explain', 'stateAt', 'fleet', 'vmas', 'events', 'rebuild']);
    expect(queryWildcard(2)).toBe('lockline.v1.query.2.*');
    expect(() => querySubject(0, 'drop' as never)).toThrow(/unknown query verb/);
  });

  it('users and inboxes: hosts never collide with services', () => {
    expect(hostUser('web-1')).toBe('host_web-1');
    expect(inboxPrefixOf('host_web-1')).toBe('_INBOX_host_web-1');
    for (const role of SERVICE_ROLES) expect(role.startsWith('host_')).toBe(false);
  });
});
