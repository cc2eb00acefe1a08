import { pino } from 'pino';
import type { Logger } from 'pino';

export type { Logger };

/**
 * The services' logger: pino, JSON lines on stderr (stdout stays free for a command's output),
 * secrets redacted wherever they appear in a logged object.
 */
export function createLogger(service: string, level = 'info'): Logger {
  return pino(
    {
      name: service,
      level,
      base: { service, pid: process.pid },
      redact: { paths: ['password', 'pass', 'token', '*.password', '*.pass', '*.token', 'credentials', '*.credentials'], censor: '[redacted]' },
    },
    pino.destination(2),
  );
}
