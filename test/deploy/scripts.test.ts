/**
 * The deploy scripts, run for real: deploy/certs/gen-certs.sh (openssl), deploy/configure.mjs (it
 * refuses to replace passwords in use), and deploy/local/nats-cluster.mjs — three real nats-servers on
 * loopback — with deploy/setup-nats.mjs, the compose and Kubernetes setup job, run against it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'nats';
import { EVENTS_STREAM, HOSTS_BUCKET_STREAM, ingestConsumerName, natsAuthOptions } from '@lockline/bus';
import { afterEach, describe, expect, it } from 'vitest';
import { certificate, configure, deploy, readEnvFile, repo, run, sanCovers } from './support.js';

const dirs: string[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lockline-deploy-scripts-'));
  dirs.push(dir);
  return dir;
}

const fromSources = ['--conditions=lockline-source', '--import', 'tsx'];

/** Runs a command; resolves with its exit code and output whatever the code. */
async function exitOf(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; output: string }> {
  return await run(command, args, { cwd: repo, env, timeout: 120_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, output: `${stdout}${stderr}` }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({ code: typeof error.code === 'number' ? error.code : -1, output: `${error.stdout ?? ''}${error.stderr ?? ''}` }),
  );
}

describe('deploy/certs/gen-certs.sh', () => {
  const script = join(deploy, 'certs', 'gen-certs.sh');

  it('makes a CA and node certificates for the names given, reuses the CA, keeps existing certificates unless FORCE=1', async () => {
    const out = await tempDir();
    const first = await exitOf('bash', [script, out, 'a=node-a,localhost,127.0.0.1', 'b=node-b']);
    expect(first.code, first.output).toBe(0);
    const a = await certificate(join(out, 'a', 'node.crt'), join(out, 'ca', 'ca.crt'));
    expect(a.verified).toBe(true);
    expect(a.subject).toBe('CN=eventstoredb-node');
    expect(sanCovers(a.sans, 'node-a') && sanCovers(a.sans, 'localhost') && a.sans.includes('IP:127.0.0.1')).toBe(true);
    expect(sanCovers(a.sans, 'node-b')).toBe(false);
    expect((await stat(join(out, 'private', 'ca.key'))).mode & 0o077).toBe(0);
    const caBefore = await readFile(join(out, 'ca', 'ca.crt'), 'utf8');
    const aBefore = await readFile(join(out, 'a', 'node.crt'), 'utf8');

    const again = await exitOf('bash', [script, out, 'a=node-a', 'c=node-c']);
    expect(again.code, again.output).toBe(0);
    expect(again.output).toMatch(/reusing the CA/);
    expect(await readFile(join(out, 'ca', 'ca.crt'), 'utf8')).toBe(caBefore);
    expect(await readFile(join(out, 'a', 'node.crt'), 'utf8')).toBe(aBefore);
    expect((await certificate(join(out, 'c', 'node.crt'), join(out, 'ca', 'ca.crt'))).verified).toBe(true);

    const forced = await exitOf('bash', [script, out, 'a=node-a'], { ...process.env, FORCE: '1' });
    expect(forced.code, forced.output).toBe(0);
    expect(await readFile(join(out, 'a', 'node.crt'), 'utf8')).not.toBe(aBefore);
  });

  it('refuses what it cannot use, with the reason', async () => {
    const out = await tempDir();
    expect((await exitOf('bash', [script, out])).code).toBe(2);
    const bad = await exitOf('bash', [script, out, 'no-equals-sign']);
    expect(bad.code).toBe(2);
    expect(bad.output).toMatch(/expected NAME=SAN/);
    expect((await exitOf('bash', [script, out, 'ca=x'])).output).toMatch(/cannot be a node name/);
  });
});

describe('deploy/configure.mjs', () => {
  it('writes fresh secrets once, refuses to replace them (they are in use), and replaces them with --force', async () => {
    const { out, stdout } = await configure('compose');
    dirs.push(out);
    expect(stdout).toMatch(/docker compose/);
    const envPath = join(out, '.env');
    expect((await stat(envPath)).mode & 0o077).toBe(0);
    const first = readEnvFile(envPath);
    expect(new Set(Object.values(first)).size).toBe(Object.keys(first).length);
    for (const value of Object.values(first)) expect(value.length).toBeGreaterThanOrEqual(24);

    const args = [...fromSources, join(deploy, 'configure.mjs'), 'compose', '--out', out];
    const refused = await exitOf(process.execPath, args);
    expect(refused.code).toBe(1);
    expect(refused.output).toMatch(/exists: its passwords are in use/);
    expect(readEnvFile(envPath)).toEqual(first);

    const forced = await exitOf(process.execPath, [...args, '--force']);
    expect(forced.code, forced.output).toBe(0);
    expect(readEnvFile(envPath).NATS_ADMIN_PASSWORD).not.toBe(first.NATS_ADMIN_PASSWORD);

    const usage = await exitOf(process.execPath, [...fromSources, join(deploy, 'configure.mjs'), 'helm']);
    expect(usage.code).toBe(2);
  });

  it('gives named hosts a NATS user of their own, and can leave fsync to the server default', async () => {
    const { out } = await configure('k8s', '--hosts', 'web-1,db-1', '--sync', 'default');
    dirs.push(out);
    const conf = await readFile(join(out, 'nats-0.conf'), 'utf8');
    expect(conf).toContain('user: "host_web-1"');
    expect(conf).toContain('user: "host_db-1"');
    expect(conf).toContain('publish: { allow: ["lockline.v1.events.web-1"] }');
    expect(conf).toContain('# sync_interval: always');
    expect(conf).not.toMatch(/^\s+sync_interval: always/m);
  });
});

describe('deploy/local/nats-cluster.mjs and deploy/setup-nats.mjs', () => {
  it("start a three-node loopback cluster with Lockline's users, and set up Lockline's streams on it as R3, idempotently", async () => {
    const dir = await tempDir();
    const credentialsPath = join(dir, 'nats.env');
    const child = spawn(process.execPath, [...fromSources, join(deploy, 'local', 'nats-cluster.mjs'), '--auth', '--sync-always', '--credentials', credentialsPath], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 60_000;
    while (!/^ready: 3 nodes/m.test(output)) {
      if (child.exitCode !== null) throw new Error(`nats-cluster.mjs exited (${child.exitCode}):\n${output}`);
      if (Date.now() > deadline) throw new Error(`nats-cluster.mjs not ready:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(output.match(/^lockline-local-\d {2}nats:\/\/127\.0\.0\.1:\d+/gm)).toHaveLength(3);
    expect(output).toContain('(JetStream meta leader)');
    expect((await stat(credentialsPath)).mode & 0o077).toBe(0);
    const creds = readEnvFile(credentialsPath);

    const env = { ...process.env, LOCKLINE_NATS_URL: creds.NATS_URL, LOCKLINE_NATS_USER: 'admin', LOCKLINE_NATS_PASSWORD: creds.NATS_ADMIN_PASSWORD };
    const setup = [...fromSources, join(deploy, 'setup-nats.mjs'), '--partitions', '2', '--replicas', '3', '--wait', '30'];
    const first = await exitOf(process.execPath, setup, env);
    expect(first.code, first.output).toBe(0);
    expect(first.output).toMatch(/stream LOCKLINE_EVENTS: created/);
    expect(first.output).toMatch(/consumer ingest-p1 on LOCKLINE_EVENTS: created/);
    const second = await exitOf(process.execPath, setup, env);
    expect(second.code, second.output).toBe(0);
    expect(second.output).not.toMatch(/created|updated/);

    const nc = await connect({ servers: creds.NATS_URLS!.split(','), ...natsAuthOptions({ user: 'admin', password: creds.NATS_ADMIN_PASSWORD!, inboxPrefix: '_INBOX_admin' }) });
    try {
      const jsm = await nc.jetstreamManager();
      for (const stream of [EVENTS_STREAM, HOSTS_BUCKET_STREAM]) expect((await jsm.streams.info(stream)).config.num_replicas, stream).toBe(3);
      expect((await jsm.consumers.info(EVENTS_STREAM, ingestConsumerName(1))).name).toBe(ingestConsumerName(1));
    } finally {
      await nc.close();
    }

    // What setup-nats.mjs must not do by itself, it refuses at once, saying why.
    const repartition = await exitOf(process.execPath, [...fromSources, join(deploy, 'setup-nats.mjs'), '--partitions', '3', '--wait', '30'], env);
    expect(repartition.code).toBe(2);
    expect(repartition.output).toMatch(/2 partition\(s\), not 3/);
    const wrong = await exitOf(process.execPath, setup, { ...env, LOCKLINE_NATS_PASSWORD: 'not-the-password' });
    expect(wrong.code).toBe(2);
    expect(wrong.output).toMatch(/Authorization/i);

    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code, output).toBe(0);
    expect(output).toMatch(/^stopped$/m);
  });
});
