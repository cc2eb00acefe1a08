/**
 * What the deploy/ tests share: the repository's paths, YAML reading (with the merge keys compose
 * files use), what each service's config.ts reads, the metric names the services register, and
 * deploy/configure.mjs run from the sources into a temporary folder.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments, parse as parseYaml } from 'yaml';

export const run = promisify(execFile);
export const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const deploy = join(repo, 'deploy');

export function readText(path: string): string {
  return readFileSync(path, 'utf8');
}

/** One YAML document (merge keys `<<` resolved, as docker compose does). */
export function readYaml(path: string): unknown {
  return parseYaml(readText(path), { merge: true });
}

/** Every document of a multi-document YAML file, each checked to parse without error. */
export function readYamlDocuments(path: string): unknown[] {
  return parseAllDocuments(readText(path), { merge: true }).map((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${path}, document ${i + 1}: ${doc.errors.map((e) => e.message).join('; ')}`);
    return doc.toJS() as unknown;
  });
}

export type Json = Record<string, unknown>;
export const obj = (value: unknown): Json => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : {});
export const arr = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
export const str = (value: unknown): string => (typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : '');

/** The services that are processes of the Lockline image, by their folder under services/. */
export const SERVICES = ['ingest', 'projector', 'host-sim', 'api'] as const;
export type ServiceName = (typeof SERVICES)[number];

/** The LOCKLINE_* variables a service's config.ts parses: the keys of its zod environment schema. */
export function configVariables(service: ServiceName): Set<string> {
  const text = readText(join(repo, 'services', service, 'src', 'config.ts'));
  return new Set([...text.matchAll(/^\s+(LOCKLINE_[A-Z0-9_]+):/gm)].map((m) => m[1]!));
}

/** deploy/setup-nats.mjs reads the services' own NATS variables, and nothing else. */
export const SETUP_VARIABLES = new Set(['LOCKLINE_NATS_URL', 'LOCKLINE_NATS_USER', 'LOCKLINE_NATS_PASSWORD']);

/** What a container of the Lockline image runs, from its command (`services/<name>/dist/main.js` or `deploy/setup-nats.mjs`). */
export function programOf(args: readonly unknown[]): ServiceName | 'setup' | undefined {
  const first = str(args[0]);
  if (first === 'deploy/setup-nats.mjs') return 'setup';
  const m = /^services\/([a-z-]+)\/dist\/main\.js$/.exec(first);
  return m !== null && (SERVICES as readonly string[]).includes(m[1]!) ? (m[1] as ServiceName) : undefined;
}

/** Where a service serves /metrics: LOCKLINE_METRICS_PORT, or for the API its own port. */
export function metricsPortOf(service: ServiceName, env: Readonly<Record<string, string>>): number {
  return Number(service === 'api' ? env.LOCKLINE_API_PORT : env.LOCKLINE_METRICS_PORT);
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' || entry.name === 'dist' ? [] : sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

/** Every metric a service registers (`name: 'lockline_…'` in its sources). */
export function registeredMetrics(): Set<string> {
  const names = new Set<string>();
  for (const service of SERVICES) {
    for (const file of sourceFiles(join(repo, 'services', service, 'src'))) {
      for (const m of readText(file).matchAll(/name:\s*'(lockline_[a-z0-9_]+)'/g)) names.add(m[1]!);
    }
  }
  return names;
}

/** The lockline_* metric names a PromQL expression reads (histogram series by their metric's name). */
export function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/\b(lockline_[a-z0-9_]+)/g)].map((m) => m[1]!.replace(/_(bucket|sum|count)$/, ''));
}

/** `KEY=value` lines (comments and blanks skipped). */
export function readEnvFile(path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readText(path).split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m !== null) out[m[1]!] = m[2]!;
  }
  return out;
}

/** The users and passwords in a nats-server configuration renderNatsConfig wrote. */
export function natsUsers(conf: string): Map<string, string> {
  return new Map([...conf.matchAll(/\{ user: "([^"]+)", password: "([^"]+)", permissions:/g)].map((m) => [m[1]!, m[2]!]));
}

/** Runs deploy/configure.mjs from the sources (no build needed) into a fresh temporary folder. */
export async function configure(target: 'compose' | 'k8s', ...extra: string[]): Promise<{ out: string; stdout: string; stderr: string }> {
  const out = await mkdtemp(join(tmpdir(), `lockline-configure-${target}-`));
  const { stdout, stderr } = await run(process.execPath, ['--conditions=lockline-source', '--import', 'tsx', join(deploy, 'configure.mjs'), target, '--out', out, ...extra], { cwd: repo, timeout: 60_000 });
  return { out, stdout, stderr };
}

/** `openssl x509` facts of a certificate: subject, SANs, extended key usage; and whether the CA verifies it. */
export async function certificate(path: string, caPath: string): Promise<{ subject: string; sans: string[]; eku: string; verified: boolean }> {
  const { stdout: subject } = await run('openssl', ['x509', '-in', path, '-noout', '-subject', '-nameopt', 'RFC2253']);
  const { stdout: ext } = await run('openssl', ['x509', '-in', path, '-noout', '-ext', 'subjectAltName,extendedKeyUsage']);
  const sanLine = /Subject Alternative Name:[^\n]*\n\s*([^\n]*)/.exec(ext)?.[1] ?? '';
  const eku = /Extended Key Usage:[^\n]*\n\s*([^\n]*)/.exec(ext)?.[1] ?? '';
  const verified = await run('openssl', ['verify', '-CAfile', caPath, path]).then(
    () => true,
    () => false,
  );
  return { subject: subject.trim().replace(/^subject=\s*/, ''), sans: sanLine.split(',').map((s) => s.trim().replace(/^IP Address:/, 'IP:')), eku, verified };
}

/** Whether `host` is one of a certificate's SANs (a `*.` SAN covers one label). */
export function sanCovers(sans: readonly string[], host: string): boolean {
  return sans.some((san) => {
    const name = san.replace(/^(DNS|IP):/, '');
    if (name === host) return true;
    return name.startsWith('*.') && host.endsWith(name.slice(1)) && !host.slice(0, -name.length + 1).includes('.');
  });
}

export function exists(path: string): boolean {
  return existsSync(path);
}
