import { createHash } from 'node:crypto';

/**
 * Bearer tokens and their roles. A `viewer` reads; an `operator` may also act (rebuild, replay a dead
 * letter). Tokens come from configuration; the API keeps only their SHA-256 digests and finds a
 * presented token by its digest, so no comparison of secret bytes can leak a prefix through timing.
 */

export const ROLES = ['viewer', 'operator'] as const;
export type Role = (typeof ROLES)[number];

export interface ApiToken {
  readonly role: Role;
  readonly token: string;
}

/** Who made a request: the role and a short, non-secret id of the token (for logs and rate limits). */
export interface Principal {
  readonly role: Role;
  readonly tokenId: string;
}

/** The shortest token accepted: 16 characters (generate 32 or more: `openssl rand -hex 32`). */
export const MIN_TOKEN_LENGTH = 16;
const TOKEN_PATTERN = /^[A-Za-z0-9._~+/=-]+$/;

/**
 * `viewer:TOKEN,operator:TOKEN2` → tokens, or a message saying what is wrong (never echoing a token).
 */
export function parseTokens(text: string): ApiToken[] | string {
  const out: ApiToken[] = [];
  const seen = new Set<string>();
  const parts = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0) return 'no token given: expected role:token pairs like "viewer:<token>,operator:<token>"';
  for (const [i, part] of parts.entries()) {
    const colon = part.indexOf(':');
    const role = colon < 0 ? part : part.slice(0, colon);
    const token = colon < 0 ? '' : part.slice(colon + 1);
    if (!(ROLES as readonly string[]).includes(role)) return `pair ${i + 1}: expected role:token with a role of ${ROLES.join(' or ')}`;
    if (token.length < MIN_TOKEN_LENGTH) return `pair ${i + 1} (${role}): the token must be at least ${MIN_TOKEN_LENGTH} characters`;
    if (!TOKEN_PATTERN.test(token)) return `pair ${i + 1} (${role}): a token may hold letters, digits and . _ ~ + / = - only`;
    if (seen.has(token)) return `pair ${i + 1} (${role}): the same token is given twice`;
    seen.add(token);
    out.push({ role: role as Role, token });
  }
  return out;
}

const digest = (token: string): string => createHash('sha256').update(token).digest('hex');

/** Finds the principal a bearer token stands for. */
export class TokenTable {
  private readonly byDigest = new Map<string, Principal>();

  constructor(tokens: readonly ApiToken[]) {
    for (const { role, token } of tokens) {
      const d = digest(token);
      this.byDigest.set(d, { role, tokenId: d.slice(0, 8) });
    }
  }

  /** The principal for an `Authorization` header value, or undefined when there is no valid bearer token. */
  authenticate(header: string | undefined): Principal | undefined {
    if (header === undefined || header.length > 1024) return undefined;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match === null) return undefined;
    return this.byDigest.get(digest(match[1]!));
  }
}

/** Whether `role` may do what `needed` allows (an operator may do everything a viewer may). */
export function allows(role: Role, needed: Role): boolean {
  return needed === 'viewer' || role === 'operator';
}
