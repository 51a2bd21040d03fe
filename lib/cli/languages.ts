import { Command } from 'commander';
import { LANGUAGE_NAMES, LANGUAGES } from '../text/languages.js';
import type { CliIo } from './transcribe.js';

/** `simulstream languages`: what `--language` accepts (codes and names, in any case). */
export function languagesCommand(io: CliIo): Command {
  return new Command('languages')
    .description('the languages --language accepts: a code or an English name, in any case (large-v3 models only: yue)')
    .option('--json', 'one JSON array of { code, name }', false)
    .action((o: { json: boolean }) => {
      if (o.json) {
        io.stdout.write(`${JSON.stringify(LANGUAGES.map((code) => ({ code, name: LANGUAGE_NAMES[code] })))}\n`);
        return;
      }
      for (const code of LANGUAGES) io.stdout.write(`${code.padEnd(4)} ${LANGUAGE_NAMES[code]}\n`);
    });
}
