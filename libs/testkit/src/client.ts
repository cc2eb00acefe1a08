/**
 * A small client for Lockline's HTTP API (docs/api.md), with the bearer token already set: what a
 * test needs to look at the projection without knowing the routes by heart.
 */

export class LocklineApiError extends Error {
  constructor(
    readonly status: number,
    /** The problem+json `code` (NOT_FOUND, UNAVAILABLE …), when the API sent one. */
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'LocklineApiError';
  }
}

export interface Finding {
  hostId: string;
  bootId: string;
  seq: number;
  code: string;
  pid: number | null;
  [key: string]: unknown;
}

export interface FindingsQuery {
  hostId?: string;
  code?: string | readonly string[];
  pid?: number;
  limit?: number;
}

export interface HostStateView {
  hostId: string;
  bootId: string;
  seq: number;
  stateHash: string;
  [key: string]: unknown;
}

export class LocklineClient {
  constructor(
    readonly baseUrl: string,
    readonly token: string,
  ) {}

  /** GET a route under the API (`/v1/fleet`), parsed; a non-2xx answer throws LocklineApiError. */
  async get<T = unknown>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
    return this.#send<T>('GET', path, query);
  }

  async post<T = unknown>(path: string, body: unknown): Promise<T> {
    return this.#send<T>('POST', path, {}, body);
  }

  async #send<T>(method: string, path: string, query: Record<string, string | number | undefined>, body?: unknown): Promise<T> {
    const url = new URL(path, this.baseUrl);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    const response = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!response.ok) {
      const problem = (json ?? {}) as { code?: unknown; detail?: unknown; title?: unknown };
      const detail = typeof problem.detail === 'string' ? problem.detail : typeof problem.title === 'string' ? problem.title : text.slice(0, 200);
      throw new LocklineApiError(response.status, typeof problem.code === 'string' ? problem.code : undefined, `${method} ${url.pathname}: ${response.status} ${detail}`);
    }
    return json as T;
  }

  fleet(): Promise<{ hosts: HostStateView[]; totals: Record<string, unknown> }> {
    return this.get('/v1/fleet');
  }

  host(hostId: string): Promise<HostStateView> {
    return this.get(`/v1/hosts/${encodeURIComponent(hostId)}`);
  }

  tree(hostId: string, only?: 'locked' | 'over-limit'): Promise<{ processes: Array<Record<string, unknown>> } & Record<string, unknown>> {
    return this.get(`/v1/hosts/${encodeURIComponent(hostId)}/tree`, { only });
  }

  process(hostId: string, pid: number, seq?: number): Promise<Record<string, unknown>> {
    return this.get(`/v1/hosts/${encodeURIComponent(hostId)}/processes/${pid}`, { seq });
  }

  explain(hostId: string, pid: number, seq?: number): Promise<{ text: string[] } & Record<string, unknown>> {
    return this.get(`/v1/hosts/${encodeURIComponent(hostId)}/processes/${pid}/explain`, { seq });
  }

  /** Findings, newest first (one page of up to `limit`, default 500). */
  async findings(query: FindingsQuery = {}): Promise<Finding[]> {
    const code = typeof query.code === 'string' ? query.code : query.code?.join(',');
    const page = await this.get<{ items: Array<{ cursor: number; finding: Finding }> }>('/v1/findings', { hostId: query.hostId, code, pid: query.pid, limit: query.limit ?? 500 });
    return page.items.map((item) => item.finding);
  }
}
