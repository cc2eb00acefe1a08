import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SERVICE_ROLES, hostUser, inboxPrefixOf, type ServiceRole } from './names.js';
import { hostPermissions, renderNatsConfig, servicePermissions, type RenderedUser } from './natsConfigText.js';

/**
 * `@lockline/bus/config`: writes a nats-server configuration for a Lockline deployment. Kept out of
 * the main entry point because it does I/O (a file, random passwords); services never need it —
 * only whatever starts nats-server (the CLI, the test helpers).
 */

export { hostPermissions, servicePermissions, type UserPermissions } from './natsConfigText.js';
export { SERVICE_ROLES, hostUser, inboxPrefixOf, type ServiceRole } from './names.js';

export interface NatsConfigOptions {
  /** Folder the file is written to (created if needed). */
  dir: string;
  /** File name; default `nats.conf`. */
  fileName?: string;
  /** Listen address for clients and monitoring; default 127.0.0.1. */
  host?: string;
  /** Client port. Not 4222: Debian's nats-server package claims it on machines with systemd. */
  port: number;
  /** Monitoring port (`/healthz`, `/varz`). */
  monitorPort: number;
  /** Unique within a cluster. */
  serverName: string;
  jetstream: {
    /** This server's own store folder (never the shared default /tmp/nats/jetstream). */
    storeDir: string;
    /** Bytes. */
    maxMemory: number;
    /** Bytes. */
    maxFile: number;
  };
  users: {
    /** One user per host, allowed to publish only `lockline.v1.events.<hostId>`. */
    hosts: readonly string[];
    /** Service users to create (see servicePermissions); default every role. */
    services?: readonly ServiceRole[];
  };
  /** fsync every write before acking it (`sync_interval: always`); default false (the server's 2-minute default). */
  syncAlways?: boolean;
}

export interface NatsCredential {
  readonly user: string;
  readonly password: string;
  /** Pass as the client's `inboxPrefix`: the user may subscribe to nothing else for replies. */
  readonly inboxPrefix: string;
}

export interface NatsConfigResult {
  readonly configPath: string;
  /** By user name: `ingest`, `projector`, `api`, `hostsim`, `admin`, and `host_<hostId>` (see hostUser). */
  readonly credentials: Readonly<Record<string, NatsCredential>>;
}

function password(): string {
  return randomBytes(24).toString('base64url');
}

/** The users and passwords (fresh random ones) for `users`. */
export function generateUsers(users: NatsConfigOptions['users']): RenderedUser[] {
  const hostIds = [...new Set(users.hosts)];
  const roles = [...new Set(users.services ?? SERVICE_ROLES)];
  return [
    ...roles.map((role) => ({ user: role, password: password(), permissions: servicePermissions(role) })),
    ...hostIds.map((hostId) => ({ user: hostUser(hostId), password: password(), permissions: hostPermissions(hostId) })),
  ];
}

export function credentialsOf(users: readonly RenderedUser[]): Record<string, NatsCredential> {
  return Object.fromEntries(users.map(({ user, password }) => [user, { user, password, inboxPrefix: inboxPrefixOf(user) }]));
}

/**
 * Writes the configuration (mode 0600: it holds passwords) and returns its path and every user's
 * credentials. Anonymous connections are refused. Check it with `nats-server -t -c <configPath>`.
 */
export async function writeNatsConfig(options: NatsConfigOptions): Promise<NatsConfigResult> {
  const users = generateUsers(options.users);
  const text = renderNatsConfig({
    host: options.host ?? '127.0.0.1',
    port: options.port,
    monitorPort: options.monitorPort,
    serverName: options.serverName,
    jetstream: { ...options.jetstream, syncAlways: options.syncAlways === true },
    users,
  });
  await mkdir(options.dir, { recursive: true });
  const configPath = join(options.dir, options.fileName ?? 'nats.conf');
  await writeFile(configPath, text, { mode: 0o600 });
  return { configPath, credentials: credentialsOf(users) };
}
