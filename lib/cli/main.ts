import { Command, CommanderError } from 'commander';
import { SimulstreamError } from '../errors.js';
import { bridgeCommand } from './bridge.js';
import { EXIT, isUsageError } from './exit-codes.js';
import { languagesCommand } from './languages.js';
import { modelsCommand } from './models.js';
import { normalizeArgv } from './options.js';
import { serveCommand } from './serve.js';
import { type CliIo, transcribeCommand } from './transcribe.js';
import { packageVersion } from './version.js';

/** The command a usage error belongs to (for its `--help` pointer), set as parsing goes. */
interface CliState {
  command: Command | undefined;
}
const STATE = new WeakMap<Command, CliState>();

/**
 * Builds the `simulstream` command line. Errors are thrown, never printed here: {@link main}
 * prints them as one line. Exit codes: 0 ok, 1 runtime failure, 2 usage error.
 */
export function buildCli(io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Command {
  const program = new Command('simulstream')
    .description('Simultaneous Whisper transcription (AlignAtt on ONNX Runtime)')
    .version(packageVersion(), '-V, --version', 'print the version');
  program.addCommand(transcribeCommand(io));
  program.addCommand(modelsCommand(io));
  program.addCommand(serveCommand(io));
  program.addCommand(bridgeCommand(io));
  program.addCommand(languagesCommand(io));
  const state: CliState = { command: undefined };
  STATE.set(program, state);
  configureTree(program, io, state);
  program.hook('preAction', (_root, action) => {
    state.command = action;
  });
  return program;
}

/** Every command: our output streams, errors thrown (not printed, not exiting). */
function configureTree(cmd: Command, io: CliIo, state: CliState): void {
  cmd
    .exitOverride()
    .showHelpAfterError(false)
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      // main() prints the error as one line; remember whose it is
      outputError: () => {
        state.command = cmd;
      },
    });
  for (const c of cmd.commands) configureTree(c, io, state);
}

/** `simulstream models pull`, for a command of the tree. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Commander's `error: …\n(Did you mean …?)` as one line, without its `error: `. */
function commanderMessage(err: CommanderError): string {
  return err.message
    .replace(/^error: /u, '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join(' ');
}

/**
 * Runs the command line and returns the exit code. Whatever fails ends as one line on stderr,
 * `simulstream: <message>`, usage errors with a pointer to the command's `--help`: 2 for usage
 * errors (a bad flag or value, an unknown language, a model or option the server cannot start
 * with), 1 for runtime failures, 0 when stdout was closed by its reader (`| head`). The stack of
 * an unexpected error is printed only with `SIMULSTREAM_DEBUG=1`.
 */
export async function main(argv: string[] = process.argv, io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const program = buildCli(io);
  const state = STATE.get(program)!;
  const debug = (io.env ?? process.env).SIMULSTREAM_DEBUG === '1';
  const help = (): string => ` (see ${commandPath(state.command ?? program)} --help)`;
  try {
    await program.parseAsync(normalizeArgv(argv));
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help' || err.exitCode === 0) return EXIT.ok;
      io.stderr.write(`simulstream: ${commanderMessage(err)}${help()}\n`);
      return EXIT.usage;
    }
    if (isClosedOutput(err)) return EXIT.ok;
    if (err instanceof SimulstreamError) {
      const usage = isUsageError(err);
      io.stderr.write(`simulstream: ${oneLine(err.message)}${usage ? help() : ''}\n`);
      if (debug) io.stderr.write(`${err.stack ?? ''}\n`);
      return usage ? EXIT.usage : EXIT.failure;
    }
    const e = err instanceof Error ? err : new Error(String(err));
    io.stderr.write(`simulstream: ${oneLine(e.message)}${debug ? '' : ' (set SIMULSTREAM_DEBUG=1 for the details)'}\n`);
    if (debug) io.stderr.write(`${e.stack ?? ''}\n`);
    return EXIT.failure;
  }
}

/** An error from writing to a reader that went away (`simulstream … | head`). */
export function isClosedOutput(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'EPIPE';
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/gu, ' ').trim();
}

/**
 * The process side of {@link main}: stdout closed by its reader ends the process quietly with
 * exit 0 (a model may be mid-iteration; nothing more can be printed anyway).
 */
export async function runProcess(argv: string[] = process.argv): Promise<void> {
  const quit = (err: NodeJS.ErrnoException): void => {
    if (err.code === 'EPIPE') process.exit(EXIT.ok);
    process.stderr.write(`simulstream: stdout: ${err.message}\n`);
    process.exit(EXIT.failure);
  };
  process.stdout.on('error', quit);
  process.exitCode = await main(argv);
}
