import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';

/** Exit statuses: 0 success, 1 the run found a problem (e.g. a failed expectation), 2 bad usage or input. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : text + '\n'),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : text + '\n'),
};

/** An error the user can fix: printed as one line, exit status 2. */
export class UsageError extends Error {
  readonly code = 'USAGE';
}

export interface Command {
  /** words after `lockline`, e.g. ['model', 'run'] */
  path: string[];
  summary: string;
  usage: string;
  /** the body of --help after the usage line */
  help: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(args: { values: Record<string, unknown>; positionals: string[]; io: Io }): Promise<number> | number;
}

export function parseCommandArgs(cmd: Command, argv: string[]): { values: Record<string, unknown>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...cmd.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    return { values, positionals };
  } catch (err) {
    throw new UsageError(`${(err as Error).message.replace(/\. To specify a positional.*$/s, '')}\nUsage: ${cmd.usage}`);
  }
}
