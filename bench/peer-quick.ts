// temporary harness: current policy vs ../shared/peer-reference
import fs from 'node:fs';

import { readAudioFile } from '../lib/audio/wav.js';
import { AlignAttSession, type AlignAttOptions } from '../lib/decode/align-att.js';
import { loadModel } from '../lib/model/load-model.js';

const SH = '/work/shared';
const rows = fs.readFileSync(`${SH}/peer-reference/index.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const only = process.argv[2];
const lm = await loadModel({ modelPath: `${SH}/toy-whisper/ggml-toy.bin`, alignmentHeads: '1,2;1,3', cacheDir: '/tmp/peer/cache' });
function parseFlags(f: string[]): AlignAttOptions & { mcs: number } {
  const o: Record<string, unknown> = { mcs: 1.2 };
  for (let i = 0; i < f.length; i++) {
    const k = f[i]!;
    const v = f[i + 1];
    if (k === '--language') { o.language = v; i++; }
    else if (k === '--min-chunk-size') { o.mcs = Number(v); i++; }
    else if (k === '--frame_threshold') { o.frameThreshold = Number(v); i++; }
    else if (k === '--beams') { o.beams = Number(v); i++; }
    else if (k === '--never_fire') o.neverFire = true;
    else if (k === '--audio_min_len') { o.audioMinLen = Number(v); i++; }
    else if (k === '--audio_max_len') { o.audioMaxLen = Number(v); i++; }
    else if (k === '--init_prompt') { o.initPrompt = v; i++; }
    else if (k === '--static_init_prompt') { o.staticInitPrompt = v; i++; }
    else if (k === '--max_context_tokens') { o.maxContextTokens = Number(v); i++; }
    else throw new Error(k);
  }
  return o as unknown as AlignAttOptions & { mcs: number };
}
let same = 0, total = 0;
for (const r of rows) {
  if (only && r.case !== only) continue;
  const o = parseFlags(r.flags);
  const audio = readAudioFile(`${SH}/toy-whisper/test/${r.file}`).samples;
  const s = new AlignAttSession(lm, { ...o, maxTokensPerSecond: 0, repetitionGuard: false, suppressTimestamps: false });
  const got: number[][] = [];
  const dur = audio.length / 16000;
  let beg = 0, end = o.mcs;
  for (;;) {
    const u = await s.process(audio.subarray(Math.trunc(beg * 16000), Math.trunc(end * 16000)));
    if (u.tokens.length) got.push([...u.tokens]);
    if (end >= dur) break;
    beg = end;
    end = end + o.mcs > dur ? dur : end + o.mcs;
  }
  const f = await s.finish();
  if (f.tokens.length) got.push([...f.tokens]);
  const want = fs.readFileSync(`${SH}/peer-reference/${r.case}/${r.file.replace('.wav', '.jsonl')}`, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l).tokens as number[]);
  const ok = JSON.stringify(got) === JSON.stringify(want);
  total++; if (ok) same++;
  if (!ok) console.log(r.case, r.file, '\n  got ', JSON.stringify(got), '\n  want', JSON.stringify(want));
}
console.log(`${same}/${total} identical`);
await lm.release();
