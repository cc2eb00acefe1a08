import { DLQ_WILDCARD, EVENTS_WILDCARD, FINDINGS_WILDCARD, eventsSubject } from '@lockline/events';
import { DLQ_STREAM, EVENTS_STREAM, FINDINGS_STREAM, HOSTS_BUCKET, HOSTS_BUCKET_STREAM, QUERY_ALL, healthSubject, hostUser, inboxPrefixOf, microServiceName, type ServiceRole } from './names.js';

/**
 * The nats-server configuration text and the permission set of every Lockline user. Pure: the file
 * writing (and the random passwords) are in natsConfig.ts.
 *
 * Every user subscribes only to its own reply inbox `_INBOX_<user>.>` and so must connect with
 * `inboxPrefix: '_INBOX_<user>'` (natsAuthOptions does it): JetStream publish acks and API replies
 * come back there, and no user can read another's.
 */

export interface UserPermissions {
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
  /** May publish a reply to a request it received (the projector answering queries). */
  readonly allowResponses?: boolean;
}

const JS_API_INFO = '$JS.API.INFO';

/** Reading the hosts bucket: bind (stream info), get (direct or stream get), keys (an ordered consumer). */
function hostsBucketRead(): string[] {
  return [
    JS_API_INFO,
    `$JS.API.STREAM.INFO.${HOSTS_BUCKET_STREAM}`,
    `$JS.API.DIRECT.GET.${HOSTS_BUCKET_STREAM}.>`,
    `$JS.API.STREAM.MSG.GET.${HOSTS_BUCKET_STREAM}`,
    `$JS.API.CONSUMER.CREATE.${HOSTS_BUCKET_STREAM}`,
    `$JS.API.CONSUMER.CREATE.${HOSTS_BUCKET_STREAM}.>`,
    `$JS.API.CONSUMER.DELETE.${HOSTS_BUCKET_STREAM}.*`,
    `$JS.FC.${HOSTS_BUCKET_STREAM}.>`,
  ];
}

/**
 * Reading a stream from the start with ordered consumers of one's own (nats.js `consumers.get(stream)`):
 * the stream's info, then create, pull from, look at and delete ephemeral consumers on it. No ack
 * subject: an ordered consumer acks nothing.
 */
function streamOrderedRead(stream: string): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.*`,
    `$JS.API.CONSUMER.INFO.${stream}.*`,
    `$JS.API.CONSUMER.DELETE.${stream}.*`,
  ];
}

/** A host: publish its own events subject, nothing else; hear its own publish acks. */
export function hostPermissions(hostId: string): UserPermissions {
  return { publish: [eventsSubject(hostId)], subscribe: [`${inboxPrefixOf(hostUser(hostId))}.>`] };
}

/**
 * What each service user may do (see the design's "Who may import whom" for who does what), plus,
 * for every service, answering NATS's services framework about itself: `$SRV.{PING,INFO,STATS}`
 * for all services, its own name and its own instances, and its health subject (replies through
 * allow_responses, to whoever asked).
 */
export function servicePermissions(role: ServiceRole): UserPermissions {
  const own = roleOwnPermissions(role);
  if (role === 'admin') return own;
  const name = microServiceName(role);
  const discovery = ['PING', 'INFO', 'STATS'].flatMap((verb) => [`$SRV.${verb}`, `$SRV.${verb}.${name}`, `$SRV.${verb}.${name}.*`]);
  return { ...own, subscribe: [...own.subscribe, ...discovery, healthSubject(role)], allowResponses: true };
}

function roleOwnPermissions(role: ServiceRole): UserPermissions {
  const inbox = `${inboxPrefixOf(role)}.>`;
  switch (role) {
    case 'ingest':
      // Read its partition consumers (and create/update them at start), ack, read the partition
      // count from the stream, dead-letter. No event publishing, no other stream.
      return {
        publish: [
          JS_API_INFO,
          `$JS.API.STREAM.INFO.${EVENTS_STREAM}`,
          `$JS.API.CONSUMER.INFO.${EVENTS_STREAM}.*`,
          `$JS.API.CONSUMER.CREATE.${EVENTS_STREAM}.>`,
          `$JS.API.CONSUMER.DURABLE.CREATE.${EVENTS_STREAM}.*`,
          `$JS.API.CONSUMER.MSG.NEXT.${EVENTS_STREAM}.*`,
          `$JS.ACK.${EVENTS_STREAM}.>`,
          DLQ_WILDCARD,
        ],
        subscribe: [inbox],
      };
    case 'projector':
      // Publish findings, write host summaries, answer queries (allow_responses lets it reply);
      // at a restart, read the last finding it published for a host.
      return {
        publish: [FINDINGS_WILDCARD, `$KV.${HOSTS_BUCKET}.>`, ...hostsBucketRead(), `$JS.API.STREAM.MSG.GET.${FINDINGS_STREAM}`],
        subscribe: [inbox, QUERY_ALL],
        allowResponses: true,
      };
    case 'api':
      // Ask the projector; read host summaries (and watch them); read the findings stream from its
      // start; read dead letters one by one (message get, no consumer) and replay one by publishing
      // its stored line again on its host's events subject — as a host would, and only there.
      return {
        publish: [QUERY_ALL, ...hostsBucketRead(), ...streamOrderedRead(FINDINGS_STREAM), `$JS.API.STREAM.INFO.${DLQ_STREAM}`, `$JS.API.STREAM.MSG.GET.${DLQ_STREAM}`, EVENTS_WILDCARD],
        subscribe: [inbox],
      };
    case 'hostsim':
      // Runs every simulated host in one process (tests, demos): any host's events subject.
      return { publish: [EVENTS_WILDCARD], subscribe: [inbox] };
    case 'admin':
      // Setup and operations: streams, consumers, buckets, inspection.
      return { publish: ['>'], subscribe: ['>'] };
    default: {
      const _exhaustive: never = role;
      throw new TypeError(`unknown service role ${String(_exhaustive)}`);
    }
  }
}

export interface RenderedUser {
  readonly user: string;
  readonly password: string;
  readonly permissions: UserPermissions;
}

export interface RenderNatsConfigOptions {
  readonly host: string;
  readonly port: number;
  readonly monitorPort: number;
  readonly serverName: string;
  readonly jetstream?: { readonly storeDir: string; readonly maxMemory: number; readonly maxFile: number; readonly syncAlways?: boolean };
  /** Omitted: anonymous access (the test servers of ./testing only). Given: only these users. */
  readonly users?: readonly RenderedUser[];
}

const q = (value: string): string => JSON.stringify(value);
const list = (values: readonly string[]): string => `[${values.map(q).join(', ')}]`;

function checkPort(name: string, port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`${name} must be a TCP port (1-65535), got ${String(port)}`);
  return port;
}

function checkBytes(name: string, bytes: number): number {
  if (!Number.isSafeInteger(bytes) || bytes < 1) throw new RangeError(`${name} must be a positive number of bytes, got ${String(bytes)}`);
  return bytes;
}

/**
 * The configuration text. Strings are written as JSON strings: the config parser reads `"$JS.API.>"`
 * literally (only an unquoted `$name` is a variable).
 */
export function renderNatsConfig(options: RenderNatsConfigOptions): string {
  const out: string[] = [
    '# nats-server configuration written by @lockline/bus (writeNatsConfig). Regenerate rather than edit:',
    '# the passwords are random and the services were given them.',
    `server_name: ${q(options.serverName)}`,
    `listen: ${q(`${options.host}:${checkPort('port', options.port)}`)}`,
    `http: ${q(`${options.host}:${checkPort('monitorPort', options.monitorPort)}`)}`,
  ];
  if (options.jetstream !== undefined) {
    const js = options.jetstream;
    out.push(
      'jetstream {',
      `  store_dir: ${q(js.storeDir)}`,
      `  max_memory_store: ${checkBytes('maxMemory', js.maxMemory)}`,
      `  max_file_store: ${checkBytes('maxFile', js.maxFile)}`,
      '  # sync_interval: how often file streams are fsynced. Left unset, the server default (2 minutes):',
      '  # an ack then means "written to the OS", which survives a nats-server crash or kill but not a',
      '  # power cut or kernel crash. "always" fsyncs before every ack: durable against those too, slower.',
      js.syncAlways === true ? '  sync_interval: always' : '  # sync_interval: always',
      '}',
    );
  }
  if (options.users !== undefined) {
    if (options.users.length === 0) throw new RangeError('at least one user is needed (with users given, anonymous access is off)');
    // No `no_auth_user`: a connection without valid credentials is refused.
    out.push('authorization {', '  users: [');
    for (const { user, password, permissions } of options.users) {
      const parts = [`publish: { allow: ${list(permissions.publish)} }`, `subscribe: { allow: ${list(permissions.subscribe)} }`];
      if (permissions.allowResponses === true) parts.push('allow_responses: true');
      out.push(`    { user: ${q(user)}, password: ${q(password)}, permissions: { ${parts.join(', ')} } }`);
    }
    out.push('  ]', '}');
  }
  return `${out.join('\n')}\n`;
}
