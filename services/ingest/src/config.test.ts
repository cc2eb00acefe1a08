import { ConfigError } from '@lockline/runtime';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';

const base = { LOCKLINE_NATS_URL: 'nats://127.0.0.1:4333', LOCKLINE_STORE: 'sqlite:/tmp/events.db' };

function problems(env: Record<string, string | undefined>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('parses the environment once, with defaults, and freezes it', () => {
    const config = loadConfig({ ...base, LOCKLINE_NATS_PASSWORD: 'secret', UNRELATED: 'x' });
    expect(config).toEqual({
      natsUrl: 'nats://127.0.0.1:4333',
      natsUser: 'ingest',
      natsPassword: 'secret',
      store: 'sqlite:/tmp/events.db',
      storeSync: 'normal',
      partitionsMine: 'all',
      gapHoldMs: 2000,
      metricsPort: 0,
      metricsHost: '127.0.0.1',
      logLevel: 'info',
      fetchMaxMessages: 256,
      storeRetryMs: 1000,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads partition lists, numbers, and treats an empty variable as unset', () => {
    const config = loadConfig({
      ...base,
      LOCKLINE_PARTITIONS_MINE: ' 2, 0 ',
      LOCKLINE_GAP_HOLD_MS: '500',
      LOCKLINE_METRICS_PORT: '-1',
      LOCKLINE_LOG_LEVEL: 'debug',
      LOCKLINE_NATS_USER: '',
      LOCKLINE_STORE_SYNC: 'full',
    });
    expect(config).toMatchObject({ partitionsMine: [0, 2], gapHoldMs: 500, metricsPort: -1, logLevel: 'debug', natsUser: 'ingest', storeSync: 'full' });
    expect(Object.isFrozen(config.partitionsMine)).toBe(true);
    expect(loadConfig({ ...base, LOCKLINE_PARTITIONS_MINE: 'all' }).partitionsMine).toBe('all');
  });

  it('names every variable that is wrong, in words', () => {
    const message = problems({
      LOCKLINE_NATS_URL: 'localhost:4222',
      LOCKLINE_PARTITIONS_MINE: '0,x',
      LOCKLINE_GAP_HOLD_MS: '2s',
      LOCKLINE_METRICS_PORT: '70000',
      LOCKLINE_LOG_LEVEL: 'loud',
    });
    expect(message).toMatch(/^lockline-ingest: invalid configuration:/);
    expect(message).toContain('LOCKLINE_NATS_URL: expected a NATS URL like nats://127.0.0.1:4222, got "localhost:4222"');
    expect(message).toContain('LOCKLINE_STORE: required: the event store');
    expect(message).toContain('LOCKLINE_PARTITIONS_MINE: expected "all" or partition numbers separated by commas');
    expect(message).toContain('LOCKLINE_GAP_HOLD_MS: expected an integer from 0 to 600000, got "2s"');
    expect(message).toContain('LOCKLINE_METRICS_PORT: expected an integer from -1 to 65535, got "70000"');
    expect(message).toContain('LOCKLINE_LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent');
    expect(problems({ ...base, LOCKLINE_PARTITIONS_MINE: '1,1' })).toContain('partition 1 is listed twice');
    expect(problems({ ...base, LOCKLINE_STORE: 'esdb://localhost:2113?tls=false', LOCKLINE_STORE_SYNC: 'full' })).toContain('LOCKLINE_STORE_SYNC: "full" applies to an SQLite store');
    expect(problems({ ...base, LOCKLINE_STORE: 'postgres://x' })).toContain('LOCKLINE_STORE: expected sqlite:PATH or an EventStoreDB connection string');
  });
});
