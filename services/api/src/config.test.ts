import { ConfigError } from '@lockline/runtime';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { TokenTable, allows, parseTokens } from './tokens.js';

const viewer = 'v'.repeat(20);
const operator = 'o'.repeat(24);
const base = { LOCKLINE_NATS_URL: 'nats://127.0.0.1:4333', LOCKLINE_API_TOKENS: `viewer:${viewer},operator:${operator}` };

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
  it('parses the environment with defaults, and freezes it', () => {
    const c = loadConfig(base);
    expect(c).toMatchObject({ natsUrl: 'nats://127.0.0.1:4333', partitions: 1, host: '127.0.0.1', port: 8080, rateLimitPerMinute: 6000, bodyLimit: 16_384, queryTimeoutMs: 5000, rebuildTimeoutMs: 120_000, logLevel: 'info' });
    expect(c.tokens).toEqual([
      { role: 'viewer', token: viewer },
      { role: 'operator', token: operator },
    ]);
    expect(Object.isFrozen(c)).toBe(true);
    expect(loadConfig({ LOCKLINE_STORE: 'sqlite:x.db', LOCKLINE_API_TOKENS: `viewer:${viewer}`, LOCKLINE_API_PORT: '0', LOCKLINE_PARTITIONS: '4' })).toMatchObject({ store: 'sqlite:x.db', port: 0, partitions: 4 });
  });

  it('names every variable that is wrong, and never echoes a token', () => {
    const fields = problems({ LOCKLINE_API_TOKENS: 'x', LOCKLINE_API_PORT: '99999', LOCKLINE_API_RATE_LIMIT: 'many', LOCKLINE_NATS_URL: 'http://x' });
    expect(fields).toMatch(/^api: invalid configuration:/);
    expect(fields).toMatch(/\n {2}LOCKLINE_NATS_URL: expected a NATS URL/);
    expect(fields).toMatch(/\n {2}LOCKLINE_API_PORT: expected a whole number from 0 to 65535, got "99999"/);
    expect(fields).toMatch(/\n {2}LOCKLINE_API_RATE_LIMIT: expected a whole number/);
    // Checks across variables, once each variable is right.
    const across = problems({ LOCKLINE_API_TOKENS: 'admin:short', LOCKLINE_NATS_USER: 'api' });
    expect(across).toMatch(/LOCKLINE_NATS_URL: give LOCKLINE_NATS_URL .*LOCKLINE_STORE/);
    expect(across).toMatch(/LOCKLINE_NATS_PASSWORD: give LOCKLINE_NATS_USER and LOCKLINE_NATS_PASSWORD together/);
    expect(across).toMatch(/LOCKLINE_API_TOKENS: pair 1: expected role:token with a role of viewer or operator/);
    expect(problems({ LOCKLINE_NATS_URL: 'nats://x:1' })).toMatch(/LOCKLINE_API_TOKENS: required/);
    const short = problems({ ...base, LOCKLINE_API_TOKENS: 'viewer:abc123' });
    expect(short).toMatch(/at least 16 characters/);
    expect(short).not.toMatch(/abc123/);
  });
});

describe('tokens', () => {
  it('parse role:token pairs and refuse a token given twice', () => {
    expect(parseTokens(` viewer:${viewer} , `)).toEqual([{ role: 'viewer', token: viewer }]);
    expect(parseTokens(`viewer:${viewer},operator:${viewer}`)).toMatch(/same token is given twice/);
    expect(parseTokens('')).toMatch(/no token given/);
    expect(parseTokens(`viewer:${'x'.repeat(15)} y`)).toMatch(/at least 16|may hold/);
  });

  it('authenticate a Bearer header by digest, whatever the scheme case', () => {
    const table = new TokenTable([
      { role: 'viewer', token: viewer },
      { role: 'operator', token: operator },
    ]);
    expect(table.authenticate(`Bearer ${viewer}`)).toMatchObject({ role: 'viewer', tokenId: expect.stringMatching(/^[0-9a-f]{8}$/) });
    expect(table.authenticate(`bearer ${operator}`)?.role).toBe('operator');
    for (const h of [undefined, '', viewer, `Bearer ${viewer}x`, `Basic ${viewer}`, `Bearer ${'a'.repeat(2000)}`]) expect(table.authenticate(h)).toBeUndefined();
    expect(allows('operator', 'viewer')).toBe(true);
    expect(allows('viewer', 'operator')).toBe(false);
  });
});
