#!/usr/bin/env node
// Writes the two BPE vocabularies Whisper uses into models/vocab/, in tiktoken's file format
// (base64 token, space, rank), gzipped:
//   multilingual.tiktoken.gz  from the vocabulary block of a whisper.cpp ggml file of a multilingual model
//   gpt2.tiktoken.gz          from js-tiktoken's GPT-2 ranks (Whisper's gpt2.tiktoken, used by the .en models)
// usage: node scripts/extract-vocab.mjs GGML_FILE JS_TIKTOKEN_GPT2_JS
import fs from 'node:fs';
import zlib from 'node:zlib';

const [ggml, gpt2js] = process.argv.slice(2);
const d = fs.readFileSync(ggml);
let o = 4 + 44;
const nMel = d.readInt32LE(o);
const nFft = d.readInt32LE(o + 4);
o += 8 + nMel * nFft * 4;
const n = d.readInt32LE(o);
o += 4;
const lines = [];
for (let i = 0; i < n; i++) {
  const len = d.readUInt32LE(o);
  o += 4;
  lines.push(`${d.subarray(o, o + len).toString('base64')} ${i}`);
  o += len;
}
fs.writeFileSync('models/vocab/multilingual.tiktoken.gz', zlib.gzipSync(`${lines.join('\n')}\n`, { level: 9 }));

const { default: gpt2 } = await import(gpt2js);
const out = [];
// js-tiktoken packs ranks as groups: "! <first rank> <base64> <base64> ..."
for (const group of gpt2.bpe_ranks.split('!')) {
  const parts = group.trim().split(' ');
  if (parts.length < 2) continue;
  let rank = Number(parts[0]);
  for (const tok of parts.slice(1)) out.push(`${tok} ${rank++}`);
}
fs.writeFileSync('models/vocab/gpt2.tiktoken.gz', zlib.gzipSync(`${out.join('\n')}\n`, { level: 9 }));
console.log(`multilingual: ${lines.length} tokens, gpt2: ${out.length} tokens`);
