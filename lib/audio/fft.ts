/**
 * A mixed-radix complex FFT in float64 for the fixed sizes of audio front ends (Whisper's
 * n_fft = 400 = 4·4·5·5). Written here rather than taken from npm: the packages that handle
 * non-power-of-two sizes are float32 (kissfft-wasm) or fail to load on Node 20, and the
 * log-mel must match OpenAI's to 1e-4.
 */
export class FFT {
  private readonly factors: number[];
  private readonly twRe: Float64Array;
  private readonly twIm: Float64Array;
  private readonly scratchRe: Float64Array;
  private readonly scratchIm: Float64Array;

  constructor(readonly n: number) {
    this.factors = factorize(n);
    this.twRe = new Float64Array(n);
    this.twIm = new Float64Array(n);
    for (let e = 0; e < n; e++) {
      this.twRe[e] = Math.cos((-2 * Math.PI * e) / n);
      this.twIm[e] = Math.sin((-2 * Math.PI * e) / n);
    }
    const maxP = Math.max(...this.factors);
    this.scratchRe = new Float64Array(maxP);
    this.scratchIm = new Float64Array(maxP);
  }

  /** Forward transform of (inRe, inIm) into (outRe, outIm); inputs are not modified. */
  transform(inRe: Float64Array, inIm: Float64Array, outRe: Float64Array, outIm: Float64Array): void {
    this.work(inRe, inIm, 0, 1, outRe, outIm, 0, this.n, 0);
  }

  private work(
    inRe: Float64Array,
    inIm: Float64Array,
    inOff: number,
    stride: number,
    outRe: Float64Array,
    outIm: Float64Array,
    outOff: number,
    n: number,
    fi: number,
  ): void {
    const p = this.factors[fi]!;
    const m = n / p;
    if (m === 1) {
      for (let j = 0; j < p; j++) {
        outRe[outOff + j] = inRe[inOff + j * stride]!;
        outIm[outOff + j] = inIm[inOff + j * stride]!;
      }
    } else {
      for (let j = 0; j < p; j++) this.work(inRe, inIm, inOff + j * stride, stride * p, outRe, outIm, outOff + j * m, m, fi + 1);
    }
    // Butterflies: X[k + q·m] = Σ_j Y_j[k] · W_n^{j·k} · W_p^{j·q}
    const N = this.n;
    const twStep = N / n;
    const { twRe, twIm, scratchRe: sr, scratchIm: si } = this;
    for (let k = 0; k < m; k++) {
      for (let j = 0; j < p; j++) {
        const idx = outOff + j * m + k;
        const e = (j * k * twStep) % N;
        const a = outRe[idx]!;
        const b = outIm[idx]!;
        sr[j] = a * twRe[e]! - b * twIm[e]!;
        si[j] = a * twIm[e]! + b * twRe[e]!;
      }
      for (let q = 0; q < p; q++) {
        let re = 0;
        let im = 0;
        for (let j = 0; j < p; j++) {
          const e = ((j * q * N) / p) % N;
          re += sr[j]! * twRe[e]! - si[j]! * twIm[e]!;
          im += sr[j]! * twIm[e]! + si[j]! * twRe[e]!;
        }
        outRe[outOff + k + q * m] = re;
        outIm[outOff + k + q * m] = im;
      }
    }
  }
}

function factorize(n: number): number[] {
  const f: number[] = [];
  let r = n;
  for (const p of [4, 2, 3, 5]) {
    while (r % p === 0) {
      f.push(p);
      r /= p;
    }
  }
  for (let p = 7; r > 1; p += 2) {
    while (r % p === 0) {
      f.push(p);
      r /= p;
    }
  }
  return f;
}
