import { readFile } from 'node:fs/promises';
import { formatProblems, parseScenario } from '@lockline/events';
import { PROFILES, isProfileName, runScenario } from '@lockline/kernel';
import type { RunReport } from '@lockline/kernel';
import type { Command } from '../command.js';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError } from '../command.js';

/** Read and parse a JSON file; throws UsageError naming the file and what is wrong. */
export async function readJsonFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
    throw new UsageError(`${file}: cannot read: ${why}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${file}: not valid JSON: ${(err as Error).message}`);
  }
}

export const modelRun: Command = {
  path: ['model', 'run'],
  summary: 'run a scenario file through the kernel model and print the outcome as JSON',
  usage: 'lockline model run FILE [--profile PROFILE] [--no-vmas]',
  help: `Runs every step of the scenario (see spec/scenario-format.md) through the model, checks each
step's "expect", and prints { name, profile, ok, steps, failedExpectations, processes } as JSON.

Options:
  --profile PROFILE  run under this profile instead of the file's own:
                     ${PROFILES.join(', ')}
  --no-vmas          leave each process's VMA list out of the output
  -h, --help         show this help

Exit status: 0 when every expectation held, 1 when one did not (see failedExpectations),
2 when the file is not a valid scenario (the error names the file, the step and the field).

Example:
  lockline model run examples/mlock-r-make.json --profile linux-2008-patch-fixed`,
  options: {
    profile: { type: 'string' },
    'no-vmas': { type: 'boolean' },
  },
  async run({ values, positionals, io }) {
    if (positionals.length !== 1) throw new UsageError(`expected one scenario FILE\nUsage: ${this.usage}`);
    const file = positionals[0]!;
    const profile = values.profile as string | undefined;
    if (profile !== undefined && !isProfileName(profile)) {
      throw new UsageError(`--profile: unknown profile "${profile}" (expected one of ${PROFILES.join(', ')})`);
    }
    const parsed = parseScenario(await readJsonFile(file));
    if (!parsed.ok) {
      io.err(formatProblems(parsed.problems, file));
      return EXIT_USAGE;
    }
    const { state: _state, ...report } = runScenario(parsed.scenario, profile ? { profile } : {});
    const out: RunReport = report;
    if (values['no-vmas']) for (const p of Object.values(out.processes)) p.vmas = [];
    io.out(JSON.stringify(out, null, 2));
    return out.ok ? EXIT_OK : EXIT_FAILED;
  },
};
