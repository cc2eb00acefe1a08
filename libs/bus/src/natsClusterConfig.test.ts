import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateUsers } from './natsConfig.js';
import { natsRouteUrl, renderNatsClusterConfig, renderNatsClusterConfigs, type NatsClusterNode, type NatsClusterOptions } from './natsClusterConfig.js';
import { checkNatsConfig } from './testing/index.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Three nodes as in a container network: the same ports on three hosts. */
const containerNodes: NatsClusterNode[] = [1, 2, 3].map((i) => ({ serverName: `nats-${i}`, routeHost: `nats-${i}`, port: 4222, monitorPort: 8222, clusterPort: 6222, storeDir: '/data' }));

const options = (overrides: Partial<NatsClusterOptions> = {}): NatsClusterOptions => ({
  clusterName: 'lockline',
  listenHost: '0.0.0.0',
  nodes: containerNodes,
  jetstream: { maxMemory: 512 * 2 ** 20, maxFile: 10 * 2 ** 30, syncAlways: true },
  users: generateUsers({ hosts: ['web-1'] }),
  routeAuth: { user: 'route', password: 'a-route-password-of-some-length' },
  ...overrides,
});

async function check(text: string): Promise<{ ok: boolean; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'lockline-cluster-conf-'));
  dirs.push(dir);
  const path = join(dir, 'nats.conf');
  await writeFile(path, text);
  return await checkNatsConfig(path);
}

describe('renderNatsClusterConfig', () => {
  it('renders a node: the single-server config (users, JetStream, sync) plus a cluster block routing to the other nodes only', () => {
    const text = renderNatsClusterConfig(options(), 'nats-2');
    expect(text).toContain('server_name: "nats-2"');
    expect(text).toContain('listen: "0.0.0.0:4222"');
    expect(text).toContain('http: "0.0.0.0:8222"');
    expect(text).toContain('  sync_interval: always');
    expect(text).toMatch(/authorization \{\n {2}users: \[/);
    expect(text).toContain('user: "host_web-1"');
    expect(text).toContain('cluster {\n  name: "lockline"\n  listen: "0.0.0.0:6222"');
    expect(text).toContain('authorization { user: "route", password: "a-route-password-of-some-length" }');
    expect(text).toContain('"nats-route://route:a-route-password-of-some-length@nats-1:6222"');
    expect(text).toContain('"nats-route://route:a-route-password-of-some-length@nats-3:6222"');
    expect(text).not.toContain('@nats-2:6222');
  });

  it('renders every node, each with its own name and the routes to the others', () => {
    const configs = renderNatsClusterConfigs(options());
    expect([...configs.keys()]).toEqual(['nats-1', 'nats-2', 'nats-3']);
    for (const [name, text] of configs) {
      expect(text).toContain(`server_name: "${name}"`);
      expect(text.match(/nats-route:\/\//g)).toHaveLength(2);
    }
  });

  it('percent-encodes route credentials', () => {
    expect(natsRouteUrl({ routeHost: 'n1', clusterPort: 6222 }, { user: 'route', password: 'a/b@c:d' })).toBe('nats-route://route:a%2Fb%40c%3Ad@n1:6222');
    expect(natsRouteUrl({ routeHost: '127.0.0.1', clusterPort: 7000 })).toBe('nats-route://127.0.0.1:7000');
  });

  it('refuses a cluster nats-server would refuse or misbehave with, naming the problem', () => {
    expect(() => renderNatsClusterConfig(options(), 'nats-9')).toThrow(/not one of the cluster's nodes/);
    expect(() => renderNatsClusterConfig(options({ clusterName: 'has space' }), 'nats-1')).toThrow(/clusterName/);
    const first = containerNodes[0]!;
    expect(() => renderNatsClusterConfig(options({ nodes: [first, { ...first, routeHost: 'other' }] }), 'nats-1')).toThrow(/used twice/);
    expect(() => renderNatsClusterConfig(options({ nodes: [first, { ...first, serverName: 'nats-x' }] }), 'nats-1')).toThrow(/route address/);
    const loopback = (i: number, port: number): NatsClusterNode => ({ serverName: `n${i}`, routeHost: '127.0.0.1', port, monitorPort: port + 1, clusterPort: port + 2, storeDir: `/tmp/n${i}` });
    expect(() => renderNatsClusterConfig(options({ nodes: [loopback(1, 5000), { ...loopback(2, 5000), clusterPort: 5010 }] }), 'n1')).toThrow(/share a port/);
    expect(() => renderNatsClusterConfig(options({ nodes: [loopback(1, 5000), { ...loopback(2, 6000), storeDir: '/tmp/n1' }] }), 'n1')).toThrow(/share a store folder/);
    expect(() => renderNatsClusterConfig(options({ nodes: [{ ...first, monitorPort: 4222 }] }), 'nats-1')).toThrow(/one port twice/);
    expect(() => renderNatsClusterConfig(options({ nodes: [{ ...first, clusterPort: 70000 }] }), 'nats-1')).toThrow(/TCP port/);
    expect(() => renderNatsClusterConfig(options({ routeAuth: { user: 'route', password: 'short' } }), 'nats-1')).toThrow(/at least 16/);
    expect(() => renderNatsClusterConfig(options({ jetstream: { maxMemory: 0, maxFile: 1 } }), 'nats-1')).toThrow(/maxMemory/);
  });

  it('writes configurations nats-server -t accepts: with users and route auth, and anonymous on loopback', async () => {
    for (const text of renderNatsClusterConfigs(options()).values()) {
      const result = await check(text);
      expect(result.ok, result.output).toBe(true);
    }
    const loopback = [1, 2, 3].map((i) => ({ serverName: `n${i}`, routeHost: '127.0.0.1', port: 14220 + i, monitorPort: 18220 + i, clusterPort: 16220 + i, storeDir: `/tmp/n${i}` }));
    const { users: _users, routeAuth: _routeAuth, ...anonymous } = options();
    const result = await check(renderNatsClusterConfig({ ...anonymous, listenHost: '127.0.0.1', nodes: loopback }, 'n1'));
    expect(result.ok, result.output).toBe(true);
  });
});
