// Builds an evaluation manifest from the Asterisk core sound prompts (real 8 kHz telephone
// recordings with their texts), installed from Debian:
//   apt-get install asterisk-core-sounds-fr-wav asterisk-core-sounds-en-wav
//   node dist/bench/telephone-manifest.js [--out telephone.jsonl] [--languages fr,en]
//   npm run eval -- --manifest telephone.jsonl --model_path ./small.pt
// Prompts whose text is not speech ("[ascending tones]", "(ahooga)") or whose file is missing are
// left out; the counts are printed on stderr.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { Command } from 'commander';
import type { ManifestEntry } from '../lib/eval/manifest.js';

/** `name: text` lines of the package's prompt list → entries whose audio exists. */
export function telephoneEntries(listText: string, soundsDir: string, language: string): { entries: ManifestEntry[]; skipped: number } {
  const entries: ManifestEntry[] = [];
  let skipped = 0;
  for (const raw of listText.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith(';')) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const text = line.slice(colon + 1).trim();
    const audio = path.join(soundsDir, `${name}.wav`);
    if (!text || /^[[(].*[\])]$/u.test(text) || !fs.existsSync(audio)) {
      skipped++;
      continue;
    }
    entries.push({ audio, text, language });
  }
  return { entries, skipped };
}

const program = new Command('telephone-manifest')
  .option('--out <file>', 'manifest to write', 'telephone.jsonl')
  .option('--languages <list>', 'languages, comma-separated', 'fr,en')
  .option('--sounds <dir>', 'Asterisk sounds directory', '/usr/share/asterisk/sounds')
  .option('--docs <dir>', 'where the packages put their prompt lists', '/usr/share/doc')
  .action((o: { out: string; languages: string; sounds: string; docs: string }) => {
    const all: ManifestEntry[] = [];
    for (const lang of o.languages.split(',')) {
      const list = path.join(o.docs, `asterisk-core-sounds-${lang}`, `core-sounds-${lang}.txt.gz`);
      if (!fs.existsSync(list)) {
        console.error(`${list} is missing: apt-get install asterisk-core-sounds-${lang}-wav`);
        process.exitCode = 1;
        continue;
      }
      const { entries, skipped } = telephoneEntries(zlib.gunzipSync(fs.readFileSync(list)).toString('utf8'), path.join(o.sounds, lang), lang);
      console.error(`${lang}: ${entries.length} prompts (${skipped} left out: not speech, or no audio file)`);
      all.push(...entries);
    }
    fs.writeFileSync(o.out, all.map((e) => JSON.stringify(e)).join('\n') + '\n');
    console.error(`wrote ${o.out}`);
  });
if (process.argv[1] && import.meta.url.endsWith(path.basename(process.argv[1]))) await program.parseAsync(process.argv);
