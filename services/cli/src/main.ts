import type { Command, Io } from './command.js';
import { EXIT_OK, EXIT_USAGE, UsageError, parseCommandArgs, processIo } from './command.js';
import { audit } from './commands/audit.js';
import { diff, explainCommand, replay, step } from './commands/history.js';
import { exportCommand, importCommand } from './commands/importExport.js';
import { modelRun } from './commands/modelRun.js';
import { sim } from './commands/sim.js';
import { up } from './commands/up.js';

export const commands: Command[] = [up, modelRun, sim, importCommand, exportCommand, replay, step, diff, explainCommand, audit];

function topHelp(): string {
  const width = Math.max(...commands.map((c) => c.path.join(' ').length));
  return `lockline — process lineage and memory locking, modelled, replayed and audited

Usage: lockline COMMAND [options]

Commands:
${commands.map((c) => `  ${c.path.join(' ').padEnd(width)}  ${c.summary}`).join('\n')}

Run \`lockline COMMAND --help\` for a command's options.`;
}

function groupHelp(prefix: string[]): string {
  const sub = commands.filter((c) => prefix.every((w, i) => c.path[i] === w));
  return `Usage: lockline ${prefix.join(' ')} SUBCOMMAND [options]\n\nSubcommands:\n${sub
    .map((c) => `  ${c.path.join(' ')}  ${c.summary}`)
    .join('\n')}`;
}

/** Run the CLI with these arguments; returns the exit status. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    io.out(topHelp());
    return argv.length === 0 ? EXIT_USAGE : EXIT_OK;
  }
  // Longest command path that matches the leading words.
  const cmd = commands
    .filter((c) => c.path.every((w, i) => argv[i] === w))
    .sort((a, b) => b.path.length - a.path.length)[0];
  if (!cmd) {
    const group = commands.some((c) => c.path[0] === argv[0]);
    if (group && (argv.length === 1 || argv[1]?.startsWith('-'))) {
      io.out(groupHelp([argv[0]!]));
      return argv.includes('--help') || argv.includes('-h') ? EXIT_OK : EXIT_USAGE;
    }
    io.err(`lockline: unknown command "${argv.slice(0, group ? 2 : 1).join(' ')}"\n\n${topHelp()}`);
    return EXIT_USAGE;
  }
  const rest = argv.slice(cmd.path.length);
  try {
    const args = parseCommandArgs(cmd, rest);
    if (args.values.help) {
      io.out(`Usage: ${cmd.usage}\n\n${cmd.help}`);
      return EXIT_OK;
    }
    return await cmd.run({ ...args, io });
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`lockline ${cmd.path.join(' ')}: ${err.message}`);
      return EXIT_USAGE;
    }
    io.err(`lockline ${cmd.path.join(' ')}: internal error: ${(err as Error).stack ?? String(err)}`);
    return 70;
  }
}
