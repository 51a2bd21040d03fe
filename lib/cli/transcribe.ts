import fs from 'node:fs';
import path from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Command, Option } from 'commander';
import { INPUT_FORMATS, openAudio, type AudioInput, type InputFormat } from '../audio/audio-source.js';
import { BYTES_PER_SECOND, s16leToFloat, SAMPLE_RATE } from '../audio/pcm.js';
import { transcribeOffline, type OfflineResult } from '../decode/offline.js';
import { DEFAULTS } from '../defaults.js';
import { InvalidOptionError } from '../errors.js';
import { summarizeLags, wordLags } from '../eval/lag.js';
import { defaultModelsDir, loadModel, type LoadedModel } from '../model/load-model.js';
import type { Precision } from '../model/whisper-graphs.js';
import { fanOut } from '../output/fan-out.js';
import { forwardTo } from '../output/forward-writer.js';
import { OUTPUT_EXTENSIONS, OUTPUT_FORMATS, outputSink, type OutputFormat, type SinkOptions } from '../output/output-sinks.js';
import { transcriber } from '../stream/transcriber.js';
import type { Segment } from '../stream/utf8-carry.js';
import { findProgram } from '../util/find-program.js';
import { tap } from '../util/tap.js';
import { SileroVad } from '../vad/silero-vad.js';
import { checkModelOptions, mirrorOption, modelByName } from './models.js';
import { floatArg, intArg } from './options.js';
import { addPolicyOptions, policyOptions } from './policy-options.js';

/** What a command reads and writes; the defaults are the process's. */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  /** What `transcribe -` reads (default `process.stdin`). */
  readonly stdin?: Readable;
  /** The environment the command sees (`PATH` for ffmpeg; default `process.env`). */
  readonly env?: NodeJS.ProcessEnv;
}

/** A stage of a pipeline. */
type Stage = NodeJS.ReadableStream | NodeJS.WritableStream | NodeJS.ReadWriteStream;

/** The formats `--output-format all` writes (with `--output-dir`). */
const ALL_FORMATS: readonly OutputFormat[] = ['txt', 'json', 'srt', 'vtt'];

export function transcribeCommand(io: CliIo): Command {
  const cmd = new Command('transcribe')
    .description(
      'transcribe an audio file (WAV; raw s16le 16 kHz mono; MP3, FLAC, Ogg, M4A, WebM… through ffmpeg) or stdin (-) with the ' +
        'AlignAtt streaming policy, printing "start_ms end_ms text" lines as they are emitted (--output-format for txt, json, srt, vtt)',
    )
    .argument('<file>', 'audio file, or - for stdin (raw PCM, or WAV)')
    .option('--model <name>', 'a catalog model by name (e.g. small, large-v3-turbo), pulled into the cache on first use')
    .option('--model_path <file>', 'OpenAI .pt or whisper.cpp ggml model file')
    .addOption(mirrorOption())
    .addOption(new Option('--format <format>', 'what the input is: auto (sniffed from its first bytes), raw (s16le 16 kHz mono) or wav').choices([...INPUT_FORMATS]).default('auto'))
    .addOption(
      new Option('--output-format <format>', 'lines ("start_ms end_ms text", the default when streaming), txt (the default with --offline), json, srt, vtt, or all (with --output-dir)').choices([
        ...OUTPUT_FORMATS,
        'all',
      ]),
    )
    .option('--output-dir <dir>', 'write <dir>/<input name>.<txt|json|srt|vtt> instead of printing')
    .option('--offline', 'whole-file decoding (no simultaneous policy)', false)
    .option('--json', "print SimulStreaming's JSON object for each update (start, end in seconds, text, tokens, words, emission_time) instead of text lines", false)
    .option('--vac', 'voice activity control (Silero VAD): silence is not decoded, each utterance ends with a final pass', false)
    .option('--vac-chunk-size <s>', 'VAC chunk size (accepted for compatibility: the VAD always looks at every 32 ms)', floatArg(0.01, 1), DEFAULTS.vacChunkSize)
    .option('--comp_unaware', "simulate SimulStreaming's computation-unaware file mode: its chunk loop, emission time = the chunk's end (alias --comp-unaware)", false)
    .option('--report', "also print, on stderr, each line's emission time in the audio's clock and a latency summary", false)
    .option('--alignment_heads <spec>', 'alignment heads "layer,head;layer,head" (default: the model\'s official ones)')
    .option('--models-dir <dir>', 'model and compiled-graph cache (default $SIMULSTREAM_MODELS or ~/.cache/simulstream)')
    .option('--threads <n>', 'ONNX Runtime intra-op threads (0 = one per core)', intArg(0, 256), 0)
    .addOption(new Option('--quantize <type>', '8-bit weights for the encoder and decoder matmuls (faster on CPU)').choices(['int8']))
    .addOption(new Option('--device <device>', 'execution provider').choices(['cpu', 'cuda']).default('cpu'));
  addPolicyOptions(cmd);
  return cmd.action(async (file: string, o: Record<string, unknown>) => {
    // every option is checked before the audio is opened or a model loaded
    const policy = policyOptions(o, (key) => cmd.getOptionValueSource(key) === 'cli');
    const formats = outputFormats(o);
    if (o.model === undefined && o.model_path === undefined) throw new InvalidOptionError('--model', 'give --model NAME (a catalog model, e.g. small) or --model_path FILE');
    if (o.model !== undefined && o.model_path !== undefined) throw new InvalidOptionError('--model', 'give --model NAME or --model_path FILE, not both');
    checkModelOptions({ ...(o.model !== undefined ? { model: o.model as string } : {}), ...(o.mirror !== undefined ? { mirror: o.mirror as string } : {}), alignment_heads: o.alignment_heads });
    if (o.offline) for (const flag of ['vac', 'comp_unaware', 'report'] as const) if (o[flag]) throw new InvalidOptionError(`--${flag}`, 'streaming only: not with --offline');
    const env = io.env ?? process.env;

    const audio = await openAudio(file, {
      format: o.format as InputFormat,
      ffmpeg: findProgram('ffmpeg', env.PATH),
      ...(io.stdin ? { stdin: io.stdin } : {}),
    });
    if (audio.warning) io.stderr.write(`simulstream: ${audio.warning}\n`);
    let lm: LoadedModel | undefined;
    let vad: SileroVad | undefined;
    try {
      const modelsDir = (o.modelsDir as string | undefined) ?? defaultModelsDir(env);
      const modelPath = o.model ? await modelByName(o.model as string, modelsDir, o.mirror as string | undefined, io) : (o.model_path as string);
      lm = await loadModel({
        modelPath,
        cacheDir: modelsDir,
        ...(o.alignment_heads ? { alignmentHeads: o.alignment_heads as string } : {}),
        threads: o.threads as number,
        device: o.device as 'cpu' | 'cuda',
        ...(o.quantize ? { precision: o.quantize as Precision } : {}),
        log: (m) => io.stderr.write(`${m}\n`),
      });
      vad = o.vac ? await SileroVad.load() : undefined;
      let bytes = 0;
      const sinkOptions: SinkOptions = {
        source: audio.name,
        language: policy.language ?? DEFAULTS.language,
        mode: o.offline ? 'offline' : 'streaming',
        durationMs: () => (bytes / BYTES_PER_SECOND) * 1000,
        simulstreamingJson: o.json as boolean,
        vac: o.vac as boolean,
      };
      const outputs = (sink: SinkOptions): Stage[] => {
        const targets = formats.map((f) => ({ sink: outputSink(f, sink), dest: o.outputDir ? outputFile(o.outputDir as string, audio, f) : forwardTo(io.stdout) }));
        return targets.length === 1 ? [targets[0]!.sink, targets[0]!.dest] : [fanOut(targets)];
      };

      if (o.offline) {
        const pcm = await collect(audio.stream);
        bytes = pcm.length;
        const r = await transcribeOffline(lm, s16leToFloat(pcm), { language: policy.language!, task: policy.task!, beams: policy.beams!, encoderWindow: policy.encoderWindow! });
        await pipeline([Readable.from(offlineSegments(r)), ...outputs({ ...sinkOptions, language: r.language })]);
        return;
      }
      const started = performance.now();
      const segments: Segment[] = [];
      const report = tap<Segment>((s) => {
        if (!o.report) return;
        segments.push(s);
        io.stderr.write(`emitted at ${(s.emittedMs / 1000).toFixed(3)} s: ${s.words.length} words\n`);
      }, true);
      // the file's whole path: source → transcriber → sink, one pipeline (the first failure ends every stage)
      await pipeline([
        audio.stream,
        tap<Buffer>((b) => (bytes += b.length)),
        transcriber({ ...policy, model: lm, objectMode: true, ...(vad ? { vad } : {}), ...(o.comp_unaware ? { chunking: 'simulstreaming' as const } : {}) }),
        report,
        ...outputs(sinkOptions),
      ]);
      if (o.report) {
        const seconds = bytes / BYTES_PER_SECOND;
        const compute = (performance.now() - started) / 1000;
        const lag = summarizeLags(wordLags(segments));
        io.stderr.write(
          `words ${lag.words}  audio ${seconds.toFixed(2)} s  compute ${compute.toFixed(2)} s  real-time factor ${(compute / seconds).toFixed(3)}  ` +
            `lag mean ${lag.meanLag.toFixed(3)} s  p90 ${lag.p90Lag.toFixed(3)} s\n`,
        );
      }
    } finally {
      audio.stream.destroy();
      await Promise.all([lm?.release(), vad?.release()]);
    }
  });
}

/** The formats to write, from `--output-format`, `--output-dir`, `--json` and `--offline` (usage errors here). */
function outputFormats(o: Record<string, unknown>): OutputFormat[] {
  const asked = o.outputFormat as OutputFormat | 'all' | undefined;
  if (o.json && o.offline) throw new InvalidOptionError('--json', "SimulStreaming's per-update objects exist in streaming mode only; with --offline use --output-format json");
  if (o.json && asked !== undefined && asked !== 'lines') throw new InvalidOptionError('--json', `prints SimulStreaming's objects as lines; it does not combine with --output-format ${asked}`);
  if (asked === 'all' && !o.outputDir) throw new InvalidOptionError('--output-format', 'all writes one file per format: give --output-dir DIR');
  if (asked === 'all') return [...ALL_FORMATS];
  return [asked ?? (o.offline ? 'txt' : 'lines')];
}

/** `<dir>/<input name without extension>.<ext>` (stdin: `stdin.<ext>`), the directory made if needed. */
function outputFile(dir: string, audio: AudioInput, format: OutputFormat): Writable {
  fs.mkdirSync(dir, { recursive: true });
  const base = audio.name === 'stdin' ? 'stdin' : path.basename(audio.name, path.extname(audio.name));
  return fs.createWriteStream(path.join(dir, `${base}.${OUTPUT_EXTENSIONS[format]}`));
}

/** Offline windows as segments: one per window, its times the window's. */
function offlineSegments(r: OfflineResult): Segment[] {
  const ms = (sample: number): number => (sample / SAMPLE_RATE) * 1000;
  return r.windows.map((w) => ({
    startMs: ms(w.startSample),
    endMs: ms(w.endSample),
    text: w.text,
    words: [],
    final: true,
    emittedMs: ms(w.endSample),
    audioEndMs: ms(w.endSample),
  }));
}

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of stream) parts.push(b as Buffer);
  return Buffer.concat(parts);
}
