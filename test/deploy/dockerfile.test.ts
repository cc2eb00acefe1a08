/**
 * deploy/Dockerfile without a Docker engine: what it copies exists (every workspace's manifest, so
 * `npm ci` sees the whole lockfile), it builds on node:20-bookworm-slim with npm ci, tsc -b and a
 * pruned production install, runs as an unprivileged user, and keeps secrets and local files out of
 * its context. Whether it builds is for a machine with an engine: docs/deploy.md.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { arr, deploy, exists, obj, programOf, readText, readYaml, readYamlDocuments, repo, str } from './support.js';

const dockerfile = readText(join(deploy, 'Dockerfile'));
/** Instructions, continuation lines joined, comments dropped. */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));
const stages = instructions.reduce<string[][]>((acc, line) => {
  if (/^FROM\s/i.test(line)) acc.push([]);
  acc.at(-1)?.push(line);
  return acc;
}, []);
const ignore = readText(join(deploy, 'Dockerfile.dockerignore'))
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));

function workspaces(): string[] {
  const globs = (JSON.parse(readText(join(repo, 'package.json'))) as { workspaces: string[] }).workspaces;
  return globs.flatMap((glob) => {
    const dir = glob.replace(/\/\*$/, '');
    return readdirSync(join(repo, dir), { withFileTypes: true })
      .filter((e) => e.isDirectory() && exists(join(repo, dir, e.name, 'package.json')))
      .map((e) => `${dir}/${e.name}`);
  });
}

describe('deploy/Dockerfile', () => {
  it('builds in two stages on node:20-bookworm-slim: npm ci, tsc -b, production dependencies only, then runs as a non-root user', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
    expect(stages).toHaveLength(2);
    for (const stage of stages) expect(stage[0]).toMatch(/^FROM \$\{NODE_IMAGE\}/);
    const build = stages[0]!.join('\n');
    expect(build).toMatch(/RUN npm ci\b/);
    expect(build).toMatch(/RUN npx tsc -b\b/);
    expect(build).toMatch(/RUN npm prune --omit=dev\b/);
    expect(build.indexOf('npm prune')).toBeGreaterThan(build.indexOf('tsc -b'));
    const final = stages[1]!;
    const user = final.filter((l) => /^USER\s/i.test(l)).at(-1);
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^USER\s+(root|0)(:|$)/);
    expect(final.join('\n')).toMatch(/^ENTRYPOINT \["node"\]$/m);
  });

  it('copies every workspace manifest before npm ci, and only files that exist', () => {
    const copies = instructions.filter((l) => /^COPY\s/i.test(l) && !/--from=/.test(l));
    const sources = copies.flatMap((l) => l.replace(/^COPY\s+(--\S+\s+)*/i, '').split(/\s+/).slice(0, -1));
    for (const source of sources) expect(exists(join(repo, source)), source).toBe(true);
    const manifests = new Set(sources.filter((s) => s.endsWith('/package.json')).map((s) => s.slice(0, -'/package.json'.length)));
    expect([...manifests].sort()).toEqual(workspaces().sort());
    const npmCi = instructions.findIndex((l) => /npm ci/.test(l));
    const lastManifest = instructions.findLastIndex((l) => /^COPY .*package\.json/.test(l) && !/--from/.test(l));
    expect(lastManifest).toBeLessThan(npmCi);
  });

  it('holds every program the compose file and the manifests run with it', () => {
    const commands: unknown[][] = [];
    const compose = obj(readYaml(join(deploy, 'compose', 'compose.yaml')));
    for (const service of Object.values(obj(compose.services)).map(obj)) {
      if (str(service.image).startsWith('lockline:')) commands.push(arr(service.command));
    }
    for (const file of ['ingest.yaml', 'projector.yaml', 'api.yaml', 'host-sim.yaml', 'nats-setup.yaml']) {
      for (const doc of readYamlDocuments(join(deploy, 'k8s', file)).map(obj)) {
        for (const c of arr(obj(obj(obj(doc.spec).template).spec).containers).map(obj)) if (c.image === 'lockline') commands.push(arr(c.args));
      }
    }
    expect(commands.length).toBeGreaterThan(10);
    const copied = instructions.filter((l) => /^COPY\s/i.test(l)).join('\n');
    for (const command of commands) {
      const program = programOf(command);
      expect(program, JSON.stringify(command)).toBeDefined();
      if (program === 'setup') expect(copied).toContain('COPY deploy/setup-nats.mjs deploy/setup-nats.mjs');
      else expect(exists(join(repo, 'services', program!, 'src', 'main.ts')), program).toBe(true);
    }
  });

  it('keeps dependencies, build output and every generated secret out of the build context', () => {
    for (const pattern of ['**/node_modules', '**/dist', '.git', 'deploy/compose/.env', 'deploy/compose/generated', 'deploy/k8s/secrets']) expect(ignore, pattern).toContain(pattern);
    // …and out of git.
    expect(readText(join(deploy, 'compose', '.gitignore'))).toMatch(/^\/\.env$/m);
    expect(readText(join(deploy, 'compose', '.gitignore'))).toMatch(/^\/generated\/$/m);
    expect(readText(join(deploy, 'k8s', '.gitignore'))).toMatch(/^\/secrets\/$/m);
  });
});
