import { ConfigError } from '@lockline/runtime';
import { describe, expect, it } from 'vitest';
import { loadConfig, parsePartitionsMine } from './config.js';

const base = { LOCKLINE_NATS_URL: 'nats://127.0.0.1:4333', LOCKLINE_STORE: 'sqlite:/var/lib/lockline/events.db' };

function problems(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('takes defaults for everything but the NATS URL and the store, and freezes the result', () => {
    const c = loadConfig(base);
    expect(c).toEqual({
      natsUrl: 'nats://127.0.0.1:4333',
      store: 'sqlite:/var/lib/lockline/events.db',
      partitions: 1,
      partitionsMine: [0],
      summaryIntervalMs: 1000,
      metricsPort: 0,
      metricsHost: '127.0.0.1',
      logLevel: 'info',
    });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.partitionsMine)).toBe(true);
  });

  it('reads every variable', () => {
    const c = loadConfig({
      ...base,
      LOCKLINE_NATS_USER: 'projector',
      LOCKLINE_NATS_PASSWORD: 's3cret',
      LOCKLINE_PARTITIONS: '4',
      LOCKLINE_PARTITIONS_MINE: '3, 1,1',
      LOCKLINE_PROFILE: 'linux-2008-patch-fixed',
      LOCKLINE_SUMMARY_INTERVAL_MS: '250',
      LOCKLINE_METRICS_PORT: '9465',
      LOCKLINE_METRICS_HOST: '0.0.0.0',
      LOCKLINE_LOG_LEVEL: 'debug',
    });
    expect(c).toEqual({
      natsUrl: 'nats://127.0.0.1:4333',
      natsUser: 'projector',
      natsPassword: 's3cret',
      store: 'sqlite:/var/lib/lockline/events.db',
      partitions: 4,
      partitionsMine: [1, 3],
      profile: 'linux-2008-patch-fixed',
      summaryIntervalMs: 250,
      metricsPort: 9465,
      metricsHost: '0.0.0.0',
      logLevel: 'debug',
    });
    expect(loadConfig({ ...base, LOCKLINE_PARTITIONS: '3', LOCKLINE_PARTITIONS_MINE: 'all' }).partitionsMine).toEqual([0, 1, 2]);
  });

  it('names every wrong variable in one message', () => {
    const message = problems({ LOCKLINE_NATS_URL: 'localhost', LOCKLINE_STORE: 'postgres://x', LOCKLINE_PARTITIONS: 'two', LOCKLINE_PROFILE: 'linux-1999', LOCKLINE_METRICS_PORT: '70000' });
    expect(message).toMatch(/^projector: invalid configuration:/);
    for (const name of ['LOCKLINE_NATS_URL', 'LOCKLINE_STORE', 'LOCKLINE_PARTITIONS', 'LOCKLINE_PROFILE', 'LOCKLINE_METRICS_PORT']) expect(message).toContain(name);
    expect(message).toMatch(/linux-2008-patch, linux-2008-patch-fixed, linux-modern/);
  });

  it('says which variables are missing', () => {
    expect(problems({})).toMatch(/LOCKLINE_NATS_URL: required: a NATS URL.*\n {2}LOCKLINE_STORE: required: an event store URL/);
  });

  it('refuses partitions that do not exist, a user without a password, a zero partition count', () => {
    expect(problems({ ...base, LOCKLINE_PARTITIONS: '2', LOCKLINE_PARTITIONS_MINE: '0,2' })).toMatch(/LOCKLINE_PARTITIONS_MINE: partition 2 does not exist: LOCKLINE_PARTITIONS is 2/);
    expect(problems({ ...base, LOCKLINE_PARTITIONS_MINE: 'first' })).toMatch(/expected "all" or partitions like "0" or "0,2"/);
    expect(problems({ ...base, LOCKLINE_NATS_USER: 'projector' })).toMatch(/LOCKLINE_NATS_PASSWORD: give LOCKLINE_NATS_USER and LOCKLINE_NATS_PASSWORD together/);
    expect(problems({ ...base, LOCKLINE_PARTITIONS: '0' })).toMatch(/LOCKLINE_PARTITIONS: .*at least 1/);
  });
});

describe('parsePartitionsMine', () => {
  it('sorts and dedupes', () => {
    expect(parsePartitionsMine('2,0,2', 3)).toEqual([0, 2]);
    expect(parsePartitionsMine('ALL', 2)).toEqual([0, 1]);
    expect(parsePartitionsMine('', 2)).toMatch(/expected/);
  });
});
