import { EVENTS_WILDCARD, InvalidIdError, SUBJECT_ROOT, isValidId } from '@lockline/events';
import { checkPartitions } from './names.js';

/**
 * Which partition a host belongs to — computed exactly as nats-server computes the subject-transform
 * function `{{partition(N,1)}}`: FNV-1a, 32 bit, over the bytes of the wildcard token (here the
 * hostId), modulo N. See nats-server `server/subject_transform.go`, `getHashPartition`:
 * `h := fnv.New32a(); h.Write(key); h.Sum32() % uint32(numBuckets)`, where `key` is the concatenation
 * of the named wildcard tokens. The stream transform (eventsSubjectTransform) does the routing; this
 * function lets a service tell, without asking the server, which partition owns a host.
 */

const FNV32_OFFSET_BASIS = 0x811c9dc5;
const FNV32_PRIME = 0x01000193;

/** FNV-1a 32-bit hash of the UTF-8 bytes of `text`, as an unsigned integer. */
export function fnv1a32(text: string): number {
  let hash = FNV32_OFFSET_BASIS;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x80) return fnv1a32Bytes(new TextEncoder().encode(text));
    hash = Math.imul(hash ^ code, FNV32_PRIME);
  }
  return hash >>> 0;
}

function fnv1a32Bytes(bytes: Uint8Array): number {
  let hash = FNV32_OFFSET_BASIS;
  for (const byte of bytes) hash = Math.imul(hash ^ byte, FNV32_PRIME);
  return hash >>> 0;
}

/** The partition (0 … partitions-1) that owns `hostId`: the same number the server's transform picks. */
export function partitionOf(hostId: string, partitions: number): number {
  if (!isValidId(hostId)) throw new InvalidIdError('hostId', hostId);
  return fnv1a32(hostId) % checkPartitions(partitions);
}

/** A JetStream stream subject transform (the shape of the stream config's `subject_transform`). */
export interface SubjectTransform {
  readonly src: string;
  readonly dest: string;
}

/**
 * `lockline.v1.events.*` → `lockline.v1.pevents.{{partition(N,1)}}.{{wildcard(1)}}`: the subject
 * transform of the LOCKLINE_EVENTS stream. With N = 1 every host lands in partition 0.
 */
export function eventsSubjectTransform(partitions: number): SubjectTransform {
  return { src: EVENTS_WILDCARD, dest: `${SUBJECT_ROOT}.pevents.{{partition(${checkPartitions(partitions)},1)}}.{{wildcard(1)}}` };
}

const TRANSFORM_DEST = /^lockline\.v1\.pevents\.\{\{\s*partition\(\s*(\d+)\s*,\s*1\s*\)\s*\}\}\.\{\{\s*wildcard\(\s*1\s*\)\s*\}\}$/;

/** The partition count of a transform written by eventsSubjectTransform, or undefined for any other. */
export function partitionsOfTransform(transform: { src?: string; dest: string } | undefined): number | undefined {
  if (transform === undefined || transform.src !== EVENTS_WILDCARD) return undefined;
  const match = TRANSFORM_DEST.exec(transform.dest);
  if (!match?.[1]) return undefined;
  const partitions = Number(match[1]);
  return Number.isInteger(partitions) && partitions >= 1 ? partitions : undefined;
}
