/**
 * Parse a service's environment once (STYLE.md rule 9): `schema` is a zod-like parser of the env
 * object; failure throws one readable message naming every variable that is wrong.
 */
/** Where /metrics and /healthz listen unless LOCKLINE_METRICS_HOST says otherwise: this machine only. */
export const DEFAULT_METRICS_HOST = '127.0.0.1';
/** An address to listen on (`0.0.0.0` in a container, so Prometheus can scrape it; `::`; a host name). */
export const LISTEN_HOST_PATTERN = /^(?:[0-9.]+|[0-9a-fA-F:]+|[A-Za-z0-9.-]+)$/;
export const LISTEN_HOST_ERROR = 'expected an address to listen on, e.g. 127.0.0.1 (default) or 0.0.0.0 in a container';

export class ConfigError extends Error {
  readonly code = 'CONFIG';
  constructor(
    readonly service: string,
    readonly problems: string[],
  ) {
    super(`${service}: invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

interface SafeParser<T> {
  safeParse(input: unknown): { success: true; data: T } | { success: false; error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> } };
}

export function parseConfig<T extends object>(service: string, schema: SafeParser<T>, env: Record<string, string | undefined> = process.env): Readonly<T> {
  const r = schema.safeParse(env);
  if (!r.success) throw new ConfigError(service, r.error.issues.map((i) => `${i.path.map(String).join('.') || '(env)'}: ${i.message}`));
  return Object.freeze(r.data);
}
