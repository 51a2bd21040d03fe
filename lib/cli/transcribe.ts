import { Command, Option } from 'commander';
import type { Precision } from '../model/whisper-graphs.js';
import { readAudioFile } from '../audio/wav.js';
import { transcribeOffline } from '../decode/offline.js';
import { summarizeLags, wordLags } from '../eval/lag.js';
import { loadModel } from '../model/load-model.js';
import { encodeSegment } from '../stream/line-encoder.js';
import { floatToS16le } from '../audio/pcm.js';
import { streamPcm } from '../stream/run-transcriber.js';
import { intArg } from './options.js';
import { addPolicyOptions, policyOptions } from './policy-options.js';

export interface CliIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

export function transcribeCommand(io: CliIo): Command {
  const cmd = new Command('transcribe')
    .description(
      'transcribe an audio file (raw s16le 16 kHz mono, or WAV of any rate and channel count) with the AlignAtt ' +
        'streaming policy, printing "start_ms end_ms text" lines as they are emitted',
    )
    .argument('<file>', 'audio file')
    .requiredOption('--model_path <file>', 'OpenAI .pt or whisper.cpp ggml model file')
    .option('--offline', 'whole-file decoding (no simultaneous policy): prints the text', false)
    .option('--json', "print SimulStreaming's JSON object for each update (start, end, text, tokens, words, emission_time) instead of text lines", false)
    .option('--comp_unaware', "simulate SimulStreaming's computation-unaware file mode: its chunk loop, emission time = the chunk's end (alias --comp-unaware)", false)
    .option('--report', 'also print, on stderr, each line\'s emission time in the audio\'s clock and a latency summary', false)
    .option('--alignment_heads <spec>', 'alignment heads "layer,head;layer,head" (default: the model\'s official ones)')
    .option('--models-dir <dir>', 'model and compiled-graph cache (default $SIMULSTREAM_MODELS or ~/.cache/simulstream)')
    .option('--threads <n>', 'ONNX Runtime intra-op threads (0 = one per core)', intArg(0, 256), 0)
    .addOption(new Option('--quantize <type>', '8-bit weights for the encoder and decoder matmuls (faster on CPU)').choices(['int8']))
    .addOption(new Option('--device <device>', 'execution provider').choices(['cpu', 'cuda']).default('cpu'));
  addPolicyOptions(cmd);
  return cmd.action(async (file: string, o: Record<string, unknown>) => {
    const policy = policyOptions(o, (key) => cmd.getOptionValueSource(key) === 'cli');
    const audio = readAudioFile(file);
    const lm = await loadModel({
      modelPath: o.model_path as string,
      ...(o.modelsDir ? { cacheDir: o.modelsDir as string } : {}),
      ...(o.alignment_heads ? { alignmentHeads: o.alignment_heads as string } : {}),
      threads: o.threads as number,
      device: o.device as 'cpu' | 'cuda',
      ...(o.quantize ? { precision: o.quantize as Precision } : {}),
      log: (m) => io.stderr.write(`${m}\n`),
    });
    try {
      if (o.offline) {
        const r = await transcribeOffline(lm, audio.samples, { language: policy.language!, task: policy.task!, beams: policy.beams!, encoderWindow: policy.encoderWindow! });
        io.stdout.write(`${r.text.trim()}\n`);
        return;
      }
      const started = performance.now();
      const segments = await streamPcm(floatToS16le(audio.samples), {
        ...policy,
        model: lm,
        ...(o.comp_unaware ? { chunking: 'simulstreaming' as const } : {}),
        onSegment: (s) => {
          io.stdout.write(encodeSegment(s, o.json ? 'json' : 'text', s.emittedMs / 1000));
          if (o.report) io.stderr.write(`emitted at ${(s.emittedMs / 1000).toFixed(3)} s: ${s.words.length} words\n`);
        },
      });
      if (o.report) {
        const seconds = audio.samples.length / 16000;
        const compute = (performance.now() - started) / 1000;
        const lag = summarizeLags(wordLags(segments));
        io.stderr.write(
          `words ${lag.words}  audio ${seconds.toFixed(2)} s  compute ${compute.toFixed(2)} s  real-time factor ${(compute / seconds).toFixed(3)}  ` +
            `lag mean ${lag.meanLag.toFixed(3)} s  p90 ${lag.p90Lag.toFixed(3)} s\n`,
        );
      }
    } finally {
      await lm.release();
    }
  });
}
