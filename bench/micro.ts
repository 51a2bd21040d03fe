// Benchmarks (mitata) of every stage and of the whole pipeline, with throughput in seconds of
// audio per second:
//   npm run bench [-- --model FILE] [--filter REGEX]
// - the stream stages alone: PcmValidator, ChunkBuffer, AlignAttDecoder on a scripted model
//   (test/helpers/fake-model.ts: the policy without a network), SegmentFormatter, Utf8Carry;
// - the streaming log-mel (+1.2 s on a 20 s buffer);
// - the model core (`--model`, default the reference model in test/fixtures): log-mel of 30 s,
//   one encoder window, one decoder step, the most-attended frame, the tokenizer;
// - the toy model (../shared/toy-whisper-v3 when present, else test/fixtures/toy): one policy
//   iteration end to end (a 1.2 s chunk on a full buffer), and `transcriber()` on a 60 s file
//   (long-fr.wav, else the bundled clips looped to 60 s).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Command } from 'commander';
import { bench, do_not_optimize, group, run } from 'mitata';
import { N_SAMPLES, SAMPLE_RATE } from '../lib/audio/mel.js';
import { StreamingLogMel } from '../lib/audio/streaming-mel.js';
import { readAudioFile } from '../lib/audio/wav.js';
import { AlignAttSession, type AlignAttUpdate } from '../lib/decode/align-att.js';
import { loadModel } from '../lib/model/load-model.js';
import { AttentionTracker } from '../lib/policy/attention.js';
import { AlignAttDecoder } from '../lib/stream/align-att-decoder.js';
import { ChunkBuffer, type AudioChunk } from '../lib/stream/chunk-buffer.js';
import { PcmValidator } from '../lib/stream/pcm-validator.js';
import { floatToS16le } from '../lib/audio/pcm.js';
import { SegmentFormatter, type RawSegment } from '../lib/stream/segment-formatter.js';
import { transcriber } from '../lib/stream/transcriber.js';
import { Utf8Carry } from '../lib/stream/utf8-carry.js';
import { FakeModel, type ScriptToken } from '../test/helpers/fake-model.js';
import { ROOT, SHARED, TOY, TOY_CLIPS, tempDir } from '../test/helpers/fixtures.js';

const program = new Command('bench')
  .option('--model <file>', 'checkpoint for the model-core benchmarks', path.join(ROOT, 'test/fixtures/whisper-reference/ggml-ref-f16.bin'))
  .option('--filter <regex>', 'only the benchmarks whose name matches')
  .action(async (o: { model: string; filter?: string }) => {
    const cacheDir = tempDir('simulstream-bench-');
    /** Seconds of audio one call of each benchmark handles, by name. */
    const audioPerOp = new Map<string, number>();
    const timed = (name: string, seconds: number, fn: () => unknown): void => {
      audioPerOp.set(name, seconds);
      bench(name, fn);
    };

    // --- the stream stages alone, 60 s of audio each --------------------------------------------
    const minute = new Float32Array(60 * SAMPLE_RATE).map((_, i) => 0.1 * Math.sin(i * 0.05) + 0.01 * Math.sin(i * 1.3));
    const pcm = floatToS16le(minute);
    const writes: Buffer[] = [];
    for (let i = 0; i < pcm.length; i += 3200) writes.push(pcm.subarray(i, i + 3200)); // 100 ms writes
    const sink = (): Writable => new Writable({ objectMode: true, write: (_c, _e, done) => done() });
    const samples100ms: Float32Array[] = [];
    for (let i = 0; i < minute.length; i += 1600) samples100ms.push(minute.subarray(i, i + 1600));

    // the scripted policy: 24 s (the fake model's frames are buffer frames, so stay within 30 s), a
    // token every 200 ms, none repeated (the repetition guard would cut a loop)
    const script: ScriptToken[] = Array.from({ length: 120 }, (_, i) => ({ token: 400 + 13 * i, frame: 5 + i * 10 }));
    const policySeconds = 24;
    const chunks: AudioChunk[] = [];
    for (let i = 0; i < policySeconds / 1.2; i++) chunks.push({ samples: minute.subarray(i * 19200, (i + 1) * 19200), last: false });
    chunks.push({ samples: new Float32Array(0), last: true });
    const updates: AlignAttUpdate[] = [];
    {
      const s = new AlignAttSession(new FakeModel(script).asLoadedModel(), { language: 'fr' });
      for (const c of chunks.slice(0, -1)) updates.push(await s.process(c.samples));
      updates.push(await s.finish());
    }
    const segments: RawSegment[] = [];
    await pipeline(Readable.from(updates, { objectMode: true }), new SegmentFormatter(), new Writable({ objectMode: true, write: (s: RawSegment, _e, done) => (segments.push(s), done()) }));

    group('stream stages', () => {
      timed('PcmValidator: 60 s of s16le in 100 ms writes', 60, () => pipeline(Readable.from(writes), new PcmValidator(), sink()));
      timed('ChunkBuffer: 60 s in 100 ms pieces → 1.2 s chunks', 60, () => pipeline(Readable.from(samples100ms, { objectMode: true }), new ChunkBuffer(1.2), sink()));
      timed(`AlignAttDecoder, scripted model: ${policySeconds} s in 1.2 s chunks`, policySeconds, () =>
        pipeline(Readable.from(chunks, { objectMode: true }), new AlignAttDecoder(new AlignAttSession(new FakeModel(script).asLoadedModel(), { language: 'fr' })), sink()),
      );
      timed(`SegmentFormatter: the ${updates.length} updates of ${policySeconds} s`, policySeconds, () =>
        pipeline(Readable.from(updates, { objectMode: true }), new SegmentFormatter(), sink()),
      );
      timed(`Utf8Carry: the ${segments.length} segments of ${policySeconds} s`, policySeconds, () =>
        pipeline(Readable.from(segments, { objectMode: true }), new Utf8Carry(), sink()),
      );
    });

    // --- model core ------------------------------------------------------------------------------
    const lm = await loadModel({ modelPath: o.model, cacheDir });
    const tok = lm.tokenizer;
    const audio30 = minute.subarray(0, N_SAMPLES);
    const mel = lm.createMel();
    const melOut = mel.compute(audio30);
    const encoded = await lm.model.encode(melOut);
    const prefix = [tok.special.sot, tok.languageToken('fr'), tok.special.transcribe, tok.special.noTimestamps];
    const primed = await lm.model.decode({ tokens: [prefix], cache: lm.model.emptyCache(), audio: encoded });
    const streaming = new StreamingLogMel(lm.createMel());
    streaming.append(minute.subarray(0, 20 * SAMPLE_RATE));
    const tracker = new AttentionTracker(lm.alignmentHeads.length);
    const attn = new Float32Array(lm.alignmentHeads.length * 1500).map((_, i) => ((i * 7919) % 1500) / 1500 / 750);
    for (let i = 0; i < 20; i++) tracker.add(attn, 1);
    const text = ' Bonjour, je vous appelle au sujet de la facture du quinze mars, pouvez-vous me rappeler ?';
    group(`model core: ${path.basename(o.model)}`, () => {
      timed('log-mel, 30 s of audio', 30, () => do_not_optimize(mel.compute(audio30)));
      timed('streaming log-mel, +1.2 s on a 20 s buffer', 1.2, () => {
        streaming.append(minute.subarray(0, 19200));
        const w = streaming.window();
        streaming.dropFront(19200);
        return do_not_optimize(w);
      });
      bench('encoder, one 30 s window', async () => do_not_optimize(await lm.model.encode(melOut)));
      bench('decoder step (1 token, 4 cached)', async () => do_not_optimize(await lm.model.decode({ tokens: [[1000]], cache: primed.cache, audio: encoded })));
      bench('policy: most-attended frame (z-norm, median 7, mean)', () => {
        tracker.add(attn, 1);
        return do_not_optimize(tracker.mostAttendedFrame(1000));
      });
      bench('tokenizer encode, one sentence', () => do_not_optimize(tok.encode(text)));
    });

    // --- the toy model end to end ------------------------------------------------------------------
    const toyDir = SHARED && fs.existsSync(path.join(SHARED, 'toy-whisper-v3')) ? path.join(SHARED, 'toy-whisper-v3') : TOY;
    const toy = await loadModel({ modelPath: path.join(toyDir, 'ggml-toy.bin'), cacheDir });
    const longFile = path.join(toyDir, 'test/long-fr.wav');
    const long = fs.existsSync(longFile) ? readAudioFile(longFile).samples : loop(TOY_CLIPS.map((n) => readAudioFile(path.join(TOY, `${n}.wav`)).samples), 60);
    const longPcm = floatToS16le(long);
    const session = new AlignAttSession(toy, { language: 'fr' });
    let at = 0;
    const nextChunk = (): Float32Array => {
      if (at + 19200 > long.length) at = 0;
      return long.subarray(at, (at += 19200));
    };
    while (session.bufferSeconds < 29) await session.process(nextChunk()); // steady state: a full buffer
    const longSeconds = long.length / SAMPLE_RATE;
    group(`toy model (${path.relative(ROOT, toyDir) || toyDir})`, () => {
      timed('one policy iteration: +1.2 s on a full 30 s buffer', 1.2, async () => do_not_optimize(await session.process(nextChunk())));
      timed(`transcriber(): ${path.basename(fs.existsSync(longFile) ? longFile : 'bundled clips looped')} (${longSeconds.toFixed(1)} s), lines out`, longSeconds, () => {
        const tr = transcriber({ model: toy, language: 'fr' });
        return pipeline(Readable.from([longPcm]), tr, sink());
      });
    });

    const cpus = os.cpus();
    console.log(`${cpus.length} × ${cpus[0]?.model ?? 'CPU'}, Node ${process.version}`);
    const { benchmarks } = await run(o.filter ? { filter: new RegExp(o.filter) } : {});
    console.log('\n| benchmark | mean | audio per call | throughput (audio s / s) |');
    console.log('|---|---:|---:|---:|');
    for (const b of benchmarks) {
      const r = b.runs[0]!;
      const seconds = audioPerOp.get(r.name);
      if (seconds === undefined || !r.stats) continue;
      const mean = r.stats.avg / 1e9;
      console.log(`| ${r.name} | ${fmt(mean)} | ${seconds} s | ${(seconds / mean).toFixed(seconds / mean >= 100 ? 0 : 1)} |`);
    }
    await lm.release();
    await toy.release();
  });

function fmt(s: number): string {
  return s >= 1 ? `${s.toFixed(2)} s` : s >= 1e-3 ? `${(s * 1e3).toFixed(2)} ms` : `${(s * 1e6).toFixed(1)} µs`;
}

/** Clips one after another (0.5 s apart) until `seconds`. */
function loop(clips: readonly Float32Array[], seconds: number): Float32Array {
  const out = new Float32Array(seconds * SAMPLE_RATE);
  for (let at = 0, k = 0; at < out.length; k++) {
    const c = clips[k % clips.length]!;
    out.set(c.subarray(0, Math.min(c.length, out.length - at)), at);
    at += c.length + SAMPLE_RATE / 2;
  }
  return out;
}

await program.parseAsync(process.argv);
