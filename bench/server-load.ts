// End-to-end load: N clients replay audio into the server at real-time pace, concurrently.
//   npm run bench:server -- [--model toy|NAME|FILE] [--streams 8[,12,…]] [--seconds 60] [--find-max] [--profile] [--protocol tcp|ws|ws-stereo]
// `--protocol ws`: each client is a mod_audio_stream call on the WebSocket port (20 ms frames);
// `ws-stereo`: N/2 stereo calls (N streams: each call's two legs).
// Reports, per N: every stream's 90th-percentile emission lag (from the moment the audio up to a
// word's end reached the server to the moment its line was sent), lines, CPU use and memory. `--find-max` searches the largest N for which
// every stream's p90 lag stays under --max-lag (2 s): doubling, then bisection.
// Models: `toy` (test/fixtures, trained here), any catalog name (`tiny`, `base`, `small`, …: random
// weights of that model's shape, the same compute as the real one; its text is noise), or a
// .pt/ggml file. `--profile` prints, for each N, where one mean policy iteration's time went
// (log-mel, encoder, decoder steps, policy work on the JS thread, queue wait, idle).
import fs from 'node:fs';
import net from 'node:net';
import { WebSocket } from 'ws';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { readAudioFile } from '../lib/audio/wav.js';
import { floatArg, intArg } from '../lib/cli/options.js';
import { percentile } from '../lib/eval/lag.js';
import { readManifest } from '../lib/eval/manifest.js';
import type { EncoderWindow } from '../lib/decode/align-att.js';
import { catalogModel } from '../lib/model/catalog.js';
import { OFFICIAL_DIMS } from '../lib/model/dims.js';
import { loadModel, type LoadedModel, type LoadModelOptions } from '../lib/model/load-model.js';
import { randomCheckpoint } from '../lib/model/random-checkpoint.js';
import type { ServerObserver } from '../lib/server/observer.js';
import { SileroVad } from '../lib/vad/silero-vad.js';
import { iterationProfiler } from './iteration-profile.js';
import { createServer, type ClientInfo } from '../lib/server/server.js';
import { threadsPerWorker } from '../lib/server/workers/transcriber-pool.js';
import type { Segment } from '../lib/stream/utf8-carry.js';
import { transcriber, type Transcriber } from '../lib/stream/transcriber.js';
import { floatToS16le } from '../lib/audio/pcm.js';
import { SHARED, TOY, TOY_CLIPS, tempDir } from '../test/helpers/fixtures.js';

interface RunResult {
  readonly streams: number;
  /** The worst stream's 90th-percentile lag (s). */
  readonly worstP90: number;
  readonly medianP90: number;
  readonly maxLag: number;
  readonly words: number;
  readonly lines: number;
  /** Process CPU time over wall time, in cores. */
  readonly cpuCores: number;
  /** Resident memory at the busiest point, MiB. */
  readonly peakRssMiB: number;
  readonly ok: boolean;
}

/** Speech for the replays: the toy held-out clips (or the bundled four), 0.5 s apart. */
function speechPool(): Float32Array[] {
  const files = SHARED
    ? readManifest(path.join(SHARED, 'toy-whisper-v3/test/manifest.jsonl')).map((e) => e.audio).slice(0, 40)
    : TOY_CLIPS.map((n) => path.join(TOY, `${n}.wav`));
  return files.map((f) => readAudioFile(f).samples);
}

function replayAudio(pool: Float32Array[], seconds: number, first: number): Buffer {
  const out = new Float32Array(Math.round(seconds * 16000));
  let at = 0;
  for (let k = first; at < out.length; k++) {
    const clip = pool[k % pool.length]!;
    out.set(clip.subarray(0, Math.min(clip.length, out.length - at)), at);
    at += clip.length + 8000;
  }
  return floatToS16le(out);
}

/** One client: writes 100 ms every 100 ms (drift-corrected), half-closes, reads until the server closes. */
function replay(port: number, pcm: Buffer, startDelay: number): Promise<void> {
  return new Promise((resolve, reject) => {
    setTimeout(() => {
      const sock = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      sock.setNoDelay(true);
      sock.on('data', () => {});
      sock.on('end', () => resolve());
      sock.on('error', reject);
      sock.on('connect', () => {
        const t0 = performance.now();
        const step = 3200; // 100 ms
        let sent = 0;
        const tick = (): void => {
          const due = Math.min(pcm.length, Math.floor((performance.now() - t0) / 100 + 1) * step);
          if (due > sent) {
            sock.write(pcm.subarray(sent, due));
            sent = due;
          }
          if (sent >= pcm.length) sock.end();
          else setTimeout(tick, Math.max(0, t0 + (sent / step) * 100 - performance.now()));
        };
        tick();
      });
    }, startDelay);
  });
}

/** Which front door the clients use. */
type Protocol = 'tcp' | 'ws' | 'ws-stereo';

/** One mod_audio_stream call: 20 ms frames (sent 5 at a time every 100 ms, drift-corrected), then the hang-up closes it. */
function replayWs(port: number, pcm: Buffer, startDelay: number, stereo: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    setTimeout(() => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/audio_stream?mix=${stereo ? 'stereo' : 'mono'}&rate=16000`);
      ws.on('error', reject);
      ws.on('close', () => resolve());
      ws.on('open', () => {
        const frame = stereo ? 1280 : 640;
        const t0 = performance.now();
        let sent = 0;
        const tick = (): void => {
          const due = Math.min(pcm.length, Math.floor((performance.now() - t0) / 100 + 1) * 5 * frame);
          for (; sent < due; sent += frame) ws.send(pcm.subarray(sent, sent + frame));
          if (sent >= pcm.length) ws.close(1000);
          else setTimeout(tick, Math.max(0, t0 + (sent / (5 * frame)) * 100 - performance.now()));
        };
        tick();
      });
    }, startDelay);
  });
}

/** Two mono s16le buffers → interleaved stereo. */
function interleave(l: Buffer, r: Buffer): Buffer {
  const n = Math.min(l.length, r.length) >> 1;
  const out = Buffer.alloc(n * 4);
  for (let i = 0; i < n; i++) {
    out.writeInt16LE(l.readInt16LE(2 * i), 4 * i);
    out.writeInt16LE(r.readInt16LE(2 * i), 4 * i + 2);
  }
  return out;
}

interface RunOptions {
  seconds: number;
  minChunkSize: number;
  maxLag: number;
  language: string;
  parallel: number;
  workers: number;
  catchUp: boolean;
  encoderWindow: EncoderWindow;
  vad?: SileroVad;
  observers?: readonly ServerObserver[];
  protocol?: Protocol;
}

async function run(lm: LoadedModel, n: number, o: RunOptions): Promise<RunResult & { wallMs: number }> {
  // a word's emission lag: its line's emission − when the audio up to the word's end reached the
  // server. Word ends are clamped into the chunk that produced the line: a model whose attention
  // is not aligned (the toy and random models) cannot put a word outside the audio it was decoded from.
  const lags = new Map<string, number[]>();
  let lines = 0;
  const onSegment = (seg: Segment, c: ClientInfo): void => {
    const now = performance.now();
    const end = seg.audioEndMs / 1000;
    // a stereo call's two legs share its peer: told apart by their arrival clocks
    const list = lags.get(legKey(c)) ?? [];
    lags.set(legKey(c), list);
    lines++;
    for (const w of seg.words) {
      const at = c.receivedAt(Math.min(end, Math.max(end - o.minChunkSize, w.end)));
      if (!Number.isNaN(at)) list.push((now - at) / 1000);
    }
  };
  const protocol = o.protocol ?? 'tcp';
  const server = createServer({
    model: lm,
    host: '127.0.0.1',
    port: 0,
    ...(protocol === 'tcp' ? {} : { wsPort: 0 }),
    language: o.language,
    minChunkSize: o.minChunkSize,
    maxConnections: n + 1,
    parallelIterations: o.parallel,
    ...(o.workers ? { workers: o.workers } : {}),
    catchUp: o.catchUp,
    encoderWindow: o.encoderWindow,
    ...(o.vad ? { vad: o.vad } : {}),
    onSegment,
    ...(o.observers ? { observers: o.observers } : {}),
  });
  const addresses = await server.listen();
  const { port } = addresses;
  const wsPort = addresses.ws?.port ?? 0;
  const pool = speechPool();
  (globalThis as { gc?: () => void }).gc?.();
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 250);
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  // streams start spread over one chunk interval, as unsynchronised calls would
  const calls = protocol === 'ws-stereo' ? Math.ceil(n / 2) : n;
  await Promise.all(
    Array.from({ length: calls }, (_, i) => {
      const delay = (i * o.minChunkSize * 1000) / calls;
      if (protocol === 'tcp') return replay(port, replayAudio(pool, o.seconds, i * 3), delay);
      if (protocol === 'ws') return replayWs(wsPort, replayAudio(pool, o.seconds, i * 3), delay, false);
      // the same N streams of audio as tcp and ws, two to a call
      return replayWs(wsPort, interleave(replayAudio(pool, o.seconds, 2 * i * 3), replayAudio(pool, o.seconds, (2 * i + 1) * 3)), delay, true);
    }),
  );
  // a WebSocket call's final pass runs after its hang-up: close() waits for it
  await server.close();
  const wall = (performance.now() - wall0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  const all = [...lags.values()];
  const p90s = all.map((l) => percentile(l, 90)).filter((x) => !Number.isNaN(x));
  const worst = p90s.length ? Math.max(...p90s) : Number.NaN;
  return {
    wallMs: wall * 1000,
    streams: n,
    worstP90: worst,
    medianP90: percentile(p90s, 50),
    maxLag: Math.max(0, ...all.flat()),
    words: all.reduce((a, l) => a + l.length, 0),
    lines,
    cpuCores: (cpu.user + cpu.system) / 1e6 / wall,
    peakRssMiB: peak / 2 ** 20,
    ok: p90s.length === (protocol === 'ws-stereo' ? 2 * calls : n) && worst < o.maxLag,
  };
}

/**
 * Memory per extra stream: `count` streams each hold 30 s of audio (a full buffer: the steady
 * state of a long call) while open; (RSS after − RSS before) / count, after garbage collection.
 */
async function memoryPerStream(lm: LoadedModel, count: number, language: string): Promise<{ rssMiB: number; heapMiB: number }> {
  const gc = (globalThis as { gc?: () => void }).gc ?? ((): void => {});
  const pcm = replayAudio(speechPool(), 30, 0);
  gc();
  const before = process.memoryUsage();
  const open: Transcriber[] = [];
  for (let i = 0; i < count; i++) {
    const tr = transcriber({ model: lm, language, objectMode: true });
    tr.on('data', () => {});
    tr.write(pcm);
    open.push(tr);
  }
  while (open.some((tr) => tr.session.audioReceived < 30)) await new Promise((r) => setTimeout(r, 200));
  gc();
  const afterUse = process.memoryUsage();
  await Promise.all(open.map((tr) => new Promise((r) => tr.on('end', r).end())));
  return { rssMiB: (afterUse.rss - before.rss) / 2 ** 20 / count, heapMiB: (afterUse.heapUsed + afterUse.external - before.heapUsed - before.external) / 2 ** 20 / count };
}

/** Each stream's own key: a stereo call's two legs have the same peer but not the same arrival clock. */
const legKeys = new WeakMap<object, string>();
let legCount = 0;
function legKey(c: ClientInfo): string {
  const clock = c.receivedAt as unknown as object;
  let k = legKeys.get(clock);
  if (!k) legKeys.set(clock, (k = `${c.peer}#${++legCount}`));
  return k;
}

function row(r: RunResult): string {
  return `| ${String(r.streams).padStart(3)} | ${r.worstP90.toFixed(2)} s | ${r.medianP90.toFixed(2)} s | ${r.maxLag.toFixed(2)} s | ${String(r.words).padStart(5)} | ${r.cpuCores.toFixed(2)} | ${r.peakRssMiB.toFixed(0)} MiB | ${r.ok ? 'yes' : 'no'} |`;
}

const program = new Command('bench:server')
  .option('--model <model>', 'toy, a catalog name (tiny, base, small, …: random weights of its shape) or a .pt/ggml file', 'toy')
  .option('--streams <list>', 'concurrent streams, comma-separated', '8')
  .option('--seconds <s>', 'audio per stream', floatArg(5, 3600), 60)
  .option('--min-chunk-size <s>', 'policy chunk', floatArg(0.1, 30), 1.2)
  .option('--max-lag <s>', 'the p90 lag every stream must stay under', floatArg(0.1), 2)
  .option('--find-max', 'search the largest N that keeps every stream under --max-lag', false)
  .option('--from <n>', 'where --find-max starts doubling', intArg(1), 1)
  .option('--threads <n>', 'ONNX Runtime intra-op threads (0: one per core)', intArg(0, 256), 0)
  .option('--no-catch-up', 'do not merge the waiting chunks of a stream that fell behind')
  .option('--workers <n>', 'worker threads running the streams (the server\'s workers; 0: its own thread)', intArg(0, 64), 0)
  .option('--parallel <n>', 'policy iterations the server runs at once (its parallelIterations)', intArg(1, 64), 1)
  .option('--memory <n>', 'also measure memory per stream with N open streams holding 30 s each', intArg(1, 1000))
  .option('--quantize <type>', 'int8: 8-bit matmuls (see README, "Models")')
  .option('--encoder-window <s>', "30 (Whisper's, default) or auto (fitted to the buffer)", '30')
  .option('--vac', 'voice activity control (Silero VAD): each utterance restarts the buffer', false)
  .option('--profile', 'print where one mean policy iteration\'s time goes at each N', false)
  .option('--json', 'print the results as JSON', false)
  .option('--protocol <p>', 'tcp (SimulStreaming\'s protocol), ws (mod_audio_stream calls, mono), ws-stereo (N/2 stereo calls)', 'tcp')
  .action(async (o: Record<string, unknown>) => {
    const cacheDir = tempDir('simulstream-bench-');
    const threads = o.threads as number;
    if (o.quantize !== undefined && o.quantize !== 'int8') throw new Error('--quantize: only int8');
    if (o.encoderWindow !== '30' && o.encoderWindow !== 'auto') throw new Error('--encoder-window: 30 or auto');
    const protocol = o.protocol as Protocol;
    if (!['tcp', 'ws', 'ws-stereo'].includes(protocol)) throw new Error(`--protocol: tcp, ws or ws-stereo, got ${protocol}`);
    const name = o.model as string;
    const common: LoadModelOptions = { cacheDir, threads, ...(o.quantize ? { precision: 'int8' as const } : {}) };
    let lm: LoadedModel;
    if (name === 'toy') lm = await loadModel({ ...common, modelPath: path.join(TOY, 'ggml-toy.bin') });
    else if (fs.existsSync(name)) lm = await loadModel({ ...common, modelPath: name });
    else {
      const m = catalogModel(name); // ERR_MODEL_NOT_FOUND lists the known names
      lm = await loadModel({ ...common, checkpoint: randomCheckpoint(OFFICIAL_DIMS[m.name] ? m.name : m.dims), alignmentHeads: m.alignmentHeads });
    }
    if (o.profile && o.workers) throw new Error('--profile times the model in this thread: not with --workers');
    const profiler = o.profile ? iterationProfiler(lm) : undefined;
    if (profiler) lm = profiler.model;
    const opts: RunOptions = {
      seconds: o.seconds as number,
      minChunkSize: o.minChunkSize as number,
      maxLag: o.maxLag as number,
      language: 'fr',
      parallel: o.parallel as number,
      workers: o.workers as number,
      catchUp: o.catchUp as boolean,
      encoderWindow: o.encoderWindow === 'auto' ? 'auto' : 'full',
      ...(o.vac ? { vad: await SileroVad.load() } : {}),
      ...(profiler ? { observers: [profiler.observer] } : {}),
      protocol,
    };
    const cpus = os.cpus();
    console.log(`model ${name}${o.quantize ? ' int8' : ''}, protocol ${protocol}, encoder window ${String(o.encoderWindow)}${o.vac ? ', --vac' : ''}, ${opts.seconds} s per stream, chunks of ${opts.minChunkSize} s, ${opts.workers ? `${opts.workers} worker thread(s), ` : ''}${opts.parallel} iteration(s) at once${opts.workers ? ' in each' : ''}, ${opts.workers ? `${threadsPerWorker(opts.workers, threads)}${threads ? '' : ' (cores / workers)'}` : threads || 'default'} ONNX threads, catch-up ${opts.catchUp ? 'on' : 'off'}; ${cpus.length} × ${cpus[0]?.model ?? 'CPU'}, Node ${process.version}`);
    console.log('| streams | worst p90 lag | median p90 | max lag | words | CPU (cores) | peak RSS | p90 < ' + `${opts.maxLag} s |`);
    console.log('|---:|---:|---:|---:|---:|---:|---:|---|');
    await run(lm, 1, { ...opts, seconds: 5 }); // warm-up: ONNX Runtime's arenas, JIT
    const results: RunResult[] = [];
    const probe = async (n: number): Promise<RunResult> => {
      profiler?.reset();
      const r = await run(lm, n, opts);
      results.push(r);
      console.log(row(r));
      if (profiler) console.log(`\nprofile at ${n} stream(s): ${profiler.report(r.wallMs, opts.parallel)}\n`);
      return r;
    };
    if (o.findMax) {
      let good = 0;
      let bad = 0;
      for (let n = o.from as number; ; n *= 2) {
        if ((await probe(n)).ok) good = n;
        else {
          bad = n;
          break;
        }
        if (n >= 256) break;
      }
      while (bad && bad - good > 1) {
        const mid = Math.floor((good + bad) / 2);
        if ((await probe(mid)).ok) good = mid;
        else bad = mid;
      }
      console.log(`largest N with every stream's p90 lag < ${opts.maxLag} s: ${good}`);
    } else {
      for (const n of String(o.streams).split(',').map(Number)) await probe(n);
    }
    if (o.memory) {
      const m = await memoryPerStream(lm, o.memory as number, opts.language);
      console.log(`memory per extra stream (${String(o.memory)} streams, 30 s of audio each): RSS ${m.rssMiB.toFixed(1)} MiB, JS heap + buffers ${m.heapMiB.toFixed(1)} MiB`);
    }
    if (o.json) console.log(JSON.stringify(results, null, 1));
    await lm.release();
    await opts.vad?.release();
  });
await program.parseAsync(process.argv);
