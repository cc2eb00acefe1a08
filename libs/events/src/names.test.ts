import { describe, expect, it } from 'vitest';
import {
  DLQ_WILDCARD,
  EVENTS_WILDCARD,
  FINDINGS_WILDCARD,
  InvalidIdError,
  dlqSubject,
  eventsSubject,
  findingsSubject,
  hostIdFromEventsSubject,
  hostStreamName,
} from './names.js';

const BAD_IDS = ['', 'web.01', 'web 01', 'web*', '>', 'a/b', 'x'.repeat(65), 'wéb', 'tab\t'];

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('NATS subjects', () => {
  it('puts each host on its own subject under lockline.v1', () => {
    expect(eventsSubject('web-01')).toBe('lockline.v1.events.web-01');
    expect(dlqSubject('web-01')).toBe('lockline.v1.dlq.web-01');
    expect(findingsSubject('web_01')).toBe('lockline.v1.findings.web_01');
  });

  it('has a one-token wildcard for every host', () => {
    expect(EVENTS_WILDCARD).toBe('lockline.v1.events.*');
    expect(DLQ_WILDCARD).toBe('lockline.v1.dlq.*');
    expect(FINDINGS_WILDCARD).toBe('lockline.v1.findings.*');
  });

  it('refuses host ids that would add tokens, wildcards or spaces to a subject', () => {
    for (const id of BAD_IDS) {
      for (const subject of [eventsSubject, dlqSubject, findingsSubject]) {
        const error = thrown(() => subject(id));
        expect(error).toBeInstanceOf(InvalidIdError);
        expect(error).toMatchObject({ code: 'INVALID_ID', field: 'hostId', value: id });
      }
    }
    expect(thrown(() => eventsSubject(42 as unknown as string))).toMatchObject({ code: 'INVALID_ID', message: 'invalid hostId: expected 1 to 64 letters, digits, "_" or "-", got number 42' });
  });

  it('reads the host id back from an events subject, and nothing from other subjects', () => {
    expect(hostIdFromEventsSubject(eventsSubject('web-01'))).toBe('web-01');
    expect(hostIdFromEventsSubject('lockline.v1.events.a.b')).toBeUndefined();
    expect(hostIdFromEventsSubject('lockline.v1.events.')).toBeUndefined();
    expect(hostIdFromEventsSubject(dlqSubject('web-01'))).toBeUndefined();
    expect(hostIdFromEventsSubject('other.v1.events.web-01')).toBeUndefined();
  });
});

describe('event-store stream names', () => {
  it('names the stream of one host boot host-<hostId>-<bootId>', () => {
    expect(hostStreamName('web-01', 'b7e0c1d2')).toBe('host-web-01-b7e0c1d2');
  });

  it('checks both ids, naming the one at fault', () => {
    expect(thrown(() => hostStreamName('web.01', 'b'))).toMatchObject({ code: 'INVALID_ID', field: 'hostId' });
    expect(thrown(() => hostStreamName('web-01', 'b 1'))).toMatchObject({ code: 'INVALID_ID', field: 'bootId' });
  });
});

describe('hostStreamName is unambiguous', () => {
  it('refuses a "-" in a boot id, so no two (host, boot) pairs share a stream', () => {
    expect(hostStreamName('a-b', 'c')).toBe('host-a-b-c');
    expect(() => hostStreamName('a', 'b-c')).toThrow(InvalidIdError);
  });
});
