import type { JetStreamClient, KV } from 'nats';
import { InvalidIdError, isValidId } from '@lockline/events';
import { decodeJson, encodeJson } from './codec.js';
import { translateError } from './errors.js';
import { HOSTS_BUCKET } from './names.js';

/**
 * Per-host summaries in the `lockline_hosts` KV bucket, keyed by hostId, JSON values: the projector
 * writes them, the API reads them for the fleet view. The bucket must exist (ensureHostsBucket).
 */
export interface HostSummaries {
  /** Stores the host's latest summary; returns the bucket revision. */
  put(hostId: string, summary: unknown): Promise<number>;
  /** The host's latest summary, or undefined when it has none. */
  get(hostId: string): Promise<{ summary: unknown; revision: number; updatedAt: Date } | undefined>;
  /** Every host with a summary. */
  hostIds(): Promise<string[]>;
}

function checkedHostId(hostId: string): string {
  if (!isValidId(hostId)) throw new InvalidIdError('hostId', hostId);
  return hostId;
}

/** Opens (binds to) the bucket; no stream is created or changed. */
export async function openHostSummaries(js: JetStreamClient): Promise<HostSummaries> {
  let kv: KV;
  try {
    kv = await js.views.kv(HOSTS_BUCKET, { bindOnly: true, allow_direct: true });
  } catch (error) {
    throw translateError(error, `bucket ${HOSTS_BUCKET}`);
  }
  return {
    async put(hostId, summary) {
      const key = checkedHostId(hostId);
      try {
        return await kv.put(key, encodeJson(summary));
      } catch (error) {
        throw translateError(error, `put ${key} in ${HOSTS_BUCKET}`);
      }
    },
    async get(hostId) {
      const key = checkedHostId(hostId);
      let entry;
      try {
        entry = await kv.get(key);
      } catch (error) {
        throw translateError(error, `get ${key} from ${HOSTS_BUCKET}`);
      }
      if (entry === null || entry.operation !== 'PUT') return undefined;
      return { summary: decodeJson(entry.value), revision: entry.revision, updatedAt: entry.created };
    },
    async hostIds() {
      try {
        const out: string[] = [];
        for await (const key of await kv.keys()) out.push(key);
        return out.sort();
      } catch (error) {
        throw translateError(error, `keys of ${HOSTS_BUCKET}`);
      }
    },
  };
}
