/**
 * The mel filter bank Whisper uses: librosa.filters.mel(sr=16000, n_fft=400, n_mels) with the
 * Slaney mel scale and Slaney area normalisation, as float32 `[n_mels, 201]`.
 */
export function melFilters(nMels: number, sampleRate = 16000, nFft = 400): Float32Array {
  const nBins = 1 + Math.floor(nFft / 2);
  const fftFreqs = Array.from({ length: nBins }, (_, i) => (i * sampleRate) / 2 / (nBins - 1));
  const minMel = hzToMel(0);
  const maxMel = hzToMel(sampleRate / 2);
  const melF = Array.from({ length: nMels + 2 }, (_, i) => melToHz(minMel + ((maxMel - minMel) * i) / (nMels + 1)));
  const out = new Float32Array(nMels * nBins);
  for (let m = 0; m < nMels; m++) {
    const fd0 = melF[m + 1]! - melF[m]!;
    const fd1 = melF[m + 2]! - melF[m + 1]!;
    const enorm = 2 / (melF[m + 2]! - melF[m]!);
    for (let k = 0; k < nBins; k++) {
      const lower = -(melF[m]! - fftFreqs[k]!) / fd0;
      const upper = (melF[m + 2]! - fftFreqs[k]!) / fd1;
      // librosa stores the triangle in float32, then scales it in float32
      out[m * nBins + k] = Math.fround(Math.fround(Math.max(0, Math.min(lower, upper))) * Math.fround(enorm));
    }
  }
  return out;
}

const F_SP = 200 / 3;
const MIN_LOG_HZ = 1000;
const MIN_LOG_MEL = MIN_LOG_HZ / F_SP;
const LOG_STEP = Math.log(6.4) / 27;

function hzToMel(hz: number): number {
  return hz >= MIN_LOG_HZ ? MIN_LOG_MEL + Math.log(hz / MIN_LOG_HZ) / LOG_STEP : hz / F_SP;
}

function melToHz(mel: number): number {
  return mel >= MIN_LOG_MEL ? MIN_LOG_HZ * Math.exp(LOG_STEP * (mel - MIN_LOG_MEL)) : F_SP * mel;
}
