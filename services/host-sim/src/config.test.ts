import { ConfigError } from '@lockline/runtime';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';

const URL = 'nats://127.0.0.1:4333';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('has the documented defaults and freezes the result', () => {
    const config = loadConfig({ LOCKLINE_NATS_URL: URL });
    expect(config).toEqual({
      natsUrl: URL,
      hostIds: ['host-001', 'host-002', 'host-003', 'host-004', 'host-005', 'host-006', 'host-007', 'host-008'],
      seed: '1',
      profile: 'linux-2008-patch',
      faults: {},
      rate: 0,
      batchMaxEvents: 200,
      batchMaxMs: 5,
      maxInFlight: 64,
      publishTimeoutMs: 5000,
      stateDir: '.lockline/host-sim',
      stateSaveMs: 100,
      metricsPort: 0,
      metricsHost: '127.0.0.1',
      logLevel: 'info',
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.hostIds)).toBe(true);
  });

  it('reads every variable; an empty one counts as unset', () => {
    const config = loadConfig({
      LOCKLINE_NATS_URL: URL,
      LOCKLINE_NATS_USER: 'hostsim',
      LOCKLINE_NATS_PASSWORD: 's3cret',
      LOCKLINE_HOSTS: '3',
      LOCKLINE_HOST_ID_PREFIX: 'web-',
      LOCKLINE_SEED: 'abc',
      LOCKLINE_PROFILE: 'linux-modern',
      LOCKLINE_FAULTS: 'drop=0.01,reboot',
      LOCKLINE_RATE: '2500',
      LOCKLINE_BATCH_MAX_EVENTS: '100',
      LOCKLINE_BATCH_MAX_MS: '2',
      LOCKLINE_MAX_IN_FLIGHT: '16',
      LOCKLINE_PUBLISH_TIMEOUT_MS: '2000',
      LOCKLINE_STATE_DIR: '/var/lib/lockline/host-sim',
      LOCKLINE_STATE_SAVE_MS: '250',
      LOCKLINE_METRICS_PORT: '9464',
      LOCKLINE_LOG_LEVEL: 'debug',
      LOCKLINE_NATS_INBOX_PREFIX: '',
    });
    expect(config).toMatchObject({
      natsUser: 'hostsim',
      natsPassword: 's3cret',
      natsInboxPrefix: '_INBOX_hostsim',
      hostIds: ['web-001', 'web-002', 'web-003'],
      seed: 'abc',
      profile: 'linux-modern',
      faults: { drop: 0.01, reboot: 0.0002 },
      rate: 2500,
      batchMaxEvents: 100,
      batchMaxMs: 2,
      maxInFlight: 16,
      publishTimeoutMs: 2000,
      stateDir: '/var/lib/lockline/host-sim',
      stateSaveMs: 250,
      metricsPort: 9464,
      logLevel: 'debug',
    });
    expect(loadConfig({ LOCKLINE_NATS_URL: URL, LOCKLINE_FAULTS: '', LOCKLINE_RATE: '' })).toMatchObject({ faults: {}, rate: 0 });
  });

  it('takes an explicit host list, which HOSTS must agree with', () => {
    expect(loadConfig({ LOCKLINE_NATS_URL: URL, LOCKLINE_HOST_IDS: 'db-1, web-2' }).hostIds).toEqual(['db-1', 'web-2']);
    expect(problems({ LOCKLINE_NATS_URL: URL, LOCKLINE_HOST_IDS: 'db-1,web-2', LOCKLINE_HOSTS: '3' })).toEqual(['LOCKLINE_HOSTS: is 3 but LOCKLINE_HOST_IDS names 2 host(s)']);
    expect(problems({ LOCKLINE_NATS_URL: URL, LOCKLINE_HOST_IDS: 'db.1,ok' })[0]).toMatch(/^LOCKLINE_HOST_IDS: not host ids .*"db\.1"/);
    expect(problems({ LOCKLINE_NATS_URL: URL, LOCKLINE_HOST_IDS: 'a,b,a' })).toEqual(['LOCKLINE_HOST_IDS: named twice: a']);
  });

  it("lets a host's own user simulate that host only", () => {
    const solo = { LOCKLINE_NATS_URL: URL, LOCKLINE_NATS_USER: 'host_web-1', LOCKLINE_NATS_PASSWORD: 'p' };
    expect(loadConfig({ ...solo, LOCKLINE_HOSTS: '1', LOCKLINE_HOST_IDS: 'web-1' })).toMatchObject({ hostIds: ['web-1'], natsInboxPrefix: '_INBOX_host_web-1' });
    expect(problems({ ...solo, LOCKLINE_HOST_IDS: 'web-2' })[0]).toMatch(/^LOCKLINE_NATS_USER: host_web-1 may publish only for host web-1/);
    expect(problems({ ...solo })[0]).toMatch(/^LOCKLINE_NATS_USER: /); // eight hosts by default
  });

  it('names each wrong variable readably', () => {
    expect(problems({ LOCKLINE_NATS_URL: 'nope', LOCKLINE_HOSTS: '0', LOCKLINE_RATE: '-1', LOCKLINE_LOG_LEVEL: 'loud' }).map((p) => p.split(':')[0])).toEqual([
      'LOCKLINE_NATS_URL',
      'LOCKLINE_HOSTS',
      'LOCKLINE_RATE',
      'LOCKLINE_LOG_LEVEL',
    ]);
    expect(problems({})[0]).toMatch(/^LOCKLINE_NATS_URL: required/);
    expect(loadConfig({ LOCKLINE_NATS_URL: 'nats://127.0.0.1:4333,nats://127.0.0.1:4334' }).natsUrl).toBe('nats://127.0.0.1:4333,nats://127.0.0.1:4334');
    expect(problems({ LOCKLINE_NATS_URL: 'nats://127.0.0.1:4333,nope' })[0]).toMatch(/^LOCKLINE_NATS_URL: expected a NATS URL, or several/);
    expect(problems({ LOCKLINE_NATS_URL: URL, LOCKLINE_FAULTS: 'drop=2' })[0]).toMatch(/^LOCKLINE_FAULTS: fault "drop=2": the probability must be/);
    expect(problems({ LOCKLINE_NATS_URL: URL, LOCKLINE_PROFILE: 'linux-2025' })[0]).toMatch(/^LOCKLINE_PROFILE: profile: unknown profile "linux-2025"/);
    expect(problems({ LOCKLINE_NATS_URL: URL, LOCKLINE_NATS_USER: 'hostsim' })).toEqual(['LOCKLINE_NATS_PASSWORD: required with LOCKLINE_NATS_USER']);
  });
});
