import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { ConfigError, parseConfig } from './config.js';
import { Counter, createRegistry, serveMetrics } from './metrics.js';
import { natsServers } from './nats.js';

describe('serveMetrics', () => {
  it('serves Prometheus text on /metrics and readiness on /healthz', async () => {
    const registry = createRegistry('test');
    const events = new Counter({ name: 'lockline_test_events_total', help: 'events', registers: [registry] });
    events.inc(3);
    let ready = false;
    const server = await serveMetrics(registry, 0, () => ready);
    try {
      const metrics = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      expect(metrics.status).toBe(200);
      const text = await metrics.text();
      expect(text).toContain('lockline_test_events_total{service="test"} 3');
      expect(text).toContain('lockline_test_process_cpu_seconds_total');
      expect((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status).toBe(503);
      ready = true;
      expect((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${server.port}/nope`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});

describe('parseConfig', () => {
  const schema = z.object({ NATS_URL: z.string().url(), PARTITION: z.coerce.number().int().min(0) });
  it('parses and freezes the environment', () => {
    const c = parseConfig('svc', schema, { NATS_URL: 'nats://127.0.0.1:4333', PARTITION: '2' });
    expect(c).toEqual({ NATS_URL: 'nats://127.0.0.1:4333', PARTITION: 2 });
    expect(Object.isFrozen(c)).toBe(true);
  });
  it('names every variable that is wrong', () => {
    let err: unknown;
    try {
      parseConfig('svc', schema, { NATS_URL: 'nope', PARTITION: '-1' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/^svc: invalid configuration:\n {2}NATS_URL: .*\n {2}PARTITION: /);
  });
});

describe('natsServers', () => {
  it('splits a comma-separated list of servers (a cluster) and keeps a single URL as it is', () => {
    expect(natsServers('nats://127.0.0.1:4333')).toEqual(['nats://127.0.0.1:4333']);
    expect(natsServers('nats://127.0.0.1:4333, nats://127.0.0.1:4334,nats://127.0.0.1:4335,')).toEqual(['nats://127.0.0.1:4333', 'nats://127.0.0.1:4334', 'nats://127.0.0.1:4335']);
  });
});
