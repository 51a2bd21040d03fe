import { Command, CommanderError } from 'commander';
import { SimulstreamError, StartupError } from '../errors.js';
import { bridgeCommand } from './bridge.js';
import { modelsCommand } from './models.js';
import { normalizeArgv } from './options.js';
import { serveCommand } from './serve.js';
import { type CliIo, transcribeCommand } from './transcribe.js';

/** Builds the `simulstream` command line. Exit codes: 0 ok, 1 runtime error, 2 usage error (or a server that cannot start with its options). */
export function buildCli(io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Command {
  const program = new Command('simulstream')
    .description('Simultaneous Whisper transcription (AlignAtt on ONNX Runtime)')
    .showHelpAfterError(false)
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .exitOverride();
  program.addCommand(transcribeCommand(io).exitOverride());
  program.addCommand(modelsCommand(io).exitOverride());
  program.addCommand(serveCommand(io).exitOverride());
  program.addCommand(bridgeCommand(io).exitOverride());
  return program;
}

export async function main(argv: string[] = process.argv): Promise<number> {
  const program = buildCli();
  try {
    await program.parseAsync(normalizeArgv(argv));
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0) return 0;
      return 2;
    }
    if (err instanceof SimulstreamError) {
      process.stderr.write(`simulstream: ${err.message}\n`);
      return err.code === 'ERR_INVALID_OPTION' || err instanceof StartupError ? 2 : 1;
    }
    process.stderr.write(`simulstream: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}
