// Where one policy iteration's time goes, measured from the outside: the loaded model's log-mel,
// encoder and decoder calls are timed by wrapping them, the iteration's compute time and queue wait
// come from the server's observer. Used by `npm run bench:server -- --profile`.
import type { LogMel } from '../lib/audio/mel.js';
import type { LoadedModel } from '../lib/model/load-model.js';
import type { WhisperModel } from '../lib/model/whisper-model.js';
import type { ServerObserver } from '../lib/server/observer.js';

interface Totals {
  melMs: number;
  encodeMs: number;
  encodes: number;
  firstStepMs: number;
  firstSteps: number;
  stepMs: number;
  steps: number;
  iterations: number;
  computeMs: number;
  queueMs: number;
}

const zero = (): Totals => ({ melMs: 0, encodeMs: 0, encodes: 0, firstStepMs: 0, firstSteps: 0, stepMs: 0, steps: 0, iterations: 0, computeMs: 0, queueMs: 0 });

export interface IterationProfiler {
  /** The same model, its log-mel, encoder and decoder timed (sessions shared with the original). */
  readonly model: LoadedModel;
  /** Counts iterations, their compute time and their wait for a slot. */
  readonly observer: ServerObserver;
  /** Forgets what was measured (after a warm-up). */
  reset(): void;
  /** The table of one mean iteration, over `wallMs` of measurement with `slots` iteration slots. */
  report(wallMs: number, slots: number): string;
}

export function iterationProfiler(lm: LoadedModel): IterationProfiler {
  let t = zero();
  const timeMel = (mel: LogMel): LogMel => {
    // compute() goes through these two as well
    const logFrame = mel.logFrame.bind(mel);
    const normalize = mel.normalize.bind(mel);
    const timed = <A extends unknown[], R>(f: (...a: A) => R) =>
      (...a: A): R => {
        const t0 = performance.now();
        try {
          return f(...a);
        } finally {
          t.melMs += performance.now() - t0;
        }
      };
    return Object.assign(mel, { logFrame: timed(logFrame), normalize: timed(normalize) });
  };
  const inner = lm.model;
  const model = Object.create(inner) as WhisperModel;
  const encode: WhisperModel['encode'] = async (mel, batch, withFeatures) => {
    const t0 = performance.now();
    try {
      return await inner.encode(mel, batch, withFeatures);
    } finally {
      t.encodeMs += performance.now() - t0;
      t.encodes++;
    }
  };
  const decode: WhisperModel['decode'] = async (input) => {
    const first = input.cache.length === 0;
    const t0 = performance.now();
    try {
      return await inner.decode(input);
    } finally {
      const ms = performance.now() - t0;
      if (first) {
        t.firstStepMs += ms;
        t.firstSteps++;
      } else {
        t.stepMs += ms;
        t.steps++;
      }
    }
  };
  Object.defineProperties(model, { encode: { value: encode }, decode: { value: decode } });
  return {
    model: { ...lm, model, createMel: () => timeMel(lm.createMel()) },
    observer: {
      iteration(_peer, update, queueMs) {
        t.iterations++;
        t.computeMs += update.computeMs;
        t.queueMs += queueMs;
      },
    },
    reset() {
      t = zero();
    },
    report(wallMs: number, slots: number): string {
      const n = Math.max(1, t.iterations);
      const per = (ms: number): number => ms / n;
      const decodeMs = t.firstStepMs + t.stepMs;
      const policyMs = t.computeMs - t.melMs - t.encodeMs - decodeMs;
      const compute = per(t.computeMs);
      const pct = (ms: number): string => `${((100 * ms) / compute).toFixed(1)} %`;
      const mean = (ms: number, k: number): string => (k > 0 ? (ms / k).toFixed(2) : '–');
      const idle = 1 - t.computeMs / (wallMs * slots);
      const rows = [
        `${t.iterations} iterations in ${(wallMs / 1000).toFixed(1)} s (${((1000 * t.iterations) / wallMs).toFixed(2)}/s); the iteration slot${slots > 1 ? 's were' : ' was'} idle ${(100 * Math.max(0, idle)).toFixed(1)} % of the time`,
        '| one iteration (mean) | ms | share of compute |',
        '|---|---:|---:|',
        `| log-mel (new frames, normalisation) | ${per(t.melMs).toFixed(2)} | ${pct(per(t.melMs))} |`,
        `| encoder (${(t.encodes / n).toFixed(2)} calls) | ${per(t.encodeMs).toFixed(2)} | ${pct(per(t.encodeMs))} |`,
        `| decoder: first step (the prompt), ${mean(t.firstStepMs, t.firstSteps)} ms each | ${per(t.firstStepMs).toFixed(2)} | ${pct(per(t.firstStepMs))} |`,
        `| decoder: ${(t.steps / n).toFixed(2)} further steps, ${mean(t.stepMs, t.steps)} ms each | ${per(t.stepMs).toFixed(2)} | ${pct(per(t.stepMs))} |`,
        `| policy on the JS thread (the rest) | ${per(policyMs).toFixed(2)} | ${pct(per(policyMs))} |`,
        `| **compute** | **${compute.toFixed(2)}** | 100 % |`,
        `| queue wait (for a slot) | ${per(t.queueMs).toFixed(2)} | – |`,
      ];
      return rows.join('\n');
    },
  };
}
