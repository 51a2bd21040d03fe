import { alignAttRule } from './align-att-rule.js';
import { repetitionStart } from './repetition.js';

/** What the policy knows within one iteration, between two decoded tokens. */
export interface PolicyState {
  /** The previous token's most-attended frame (carried across iterations; `-rewindThreshold` after a reset). */
  readonly lastAttend: number;
  /** The buffer's tokens committed by earlier iterations (the forced prefix). */
  readonly committed: readonly number[];
  /** The tokens of this iteration kept so far (for beam search: the best row's, before the newest token). */
  readonly tokens: readonly number[];
  /** The most-attended frame of each decoded token, in decoding order. */
  readonly frames: readonly number[];
  /** The prefix's last token (the token before the first decoded one). */
  readonly prefixLast: number;
}

/** The settings of one iteration. */
export interface PolicyStepOptions {
  /** Frames of real audio in the buffer (`samples / 320`); attention rows are cut to them. */
  readonly contentFrames: number;
  /** Stop when the newest token attends within this many frames of the end (4 in the final pass). */
  readonly threshold: number;
  /** A jump back of more than this many frames discards the iteration. */
  readonly rewindThreshold: number;
  /** The final pass: it never rewinds. */
  readonly isLast: boolean;
  /** `<|endoftext|>`; every id from it up is special. */
  readonly eot: number;
  /** Our difference: cut a decoding loop, keeping one copy. */
  readonly repetitionGuard: boolean;
  /** Our difference: the most tokens this iteration may keep (`Infinity`: no cap). */
  readonly cap: number;
}

/**
 * What to do after a token:
 * - `continue`: keep it, decode the next one;
 * - `eot`: the model ended the text (the token is not kept);
 * - `threshold`: it attends too close to the end of the audio: drop it, wait for more audio;
 * - `rewind`: the attention jumped back: discard the whole iteration;
 * - `repetition`: the tokens end in a loop: keep one copy;
 * - `cap`: the iteration reached its token cap (the token is kept).
 */
export type PolicyVerdict = 'continue' | 'eot' | 'threshold' | 'rewind' | 'repetition' | 'cap';

/** A step's verdict and the state after it (on a verdict other than `continue`, `state.tokens` is what the iteration commits). */
export interface PolicyStepResult {
  readonly verdict: PolicyVerdict;
  readonly state: PolicyState;
}

/** The state at the start of an iteration. */
export function initialPolicyState(lastAttend: number, committed: readonly number[], prefixLast: number): PolicyState {
  return { lastAttend, committed, tokens: [], frames: [], prefixLast };
}

/** The first most-attended frame of a row (first maximum on ties). */
export function mostAttended(row: ArrayLike<number>): number {
  let best = 0;
  for (let f = 1; f < row.length; f++) if (row[f]! > row[best]!) best = f;
  return best;
}

/**
 * One decision of SimulStreaming's AlignAtt (`PaddedAlignAttWhisper.infer`), with our two
 * differences (the repetition guard and the token cap), as a pure function: the newest token's
 * attention row (z-normalised, filtered, averaged over the alignment heads, cut to the content
 * frames), the token, and the state before it give the verdict and the state after it.
 */
export function policyStep(state: PolicyState, attention: ArrayLike<number>, token: number, o: PolicyStepOptions): PolicyStepResult {
  const frame = mostAttended(attention);
  if (token === o.eot) return { verdict: 'eot', state };
  const rule = alignAttRule({
    frame,
    contentFrames: o.contentFrames,
    threshold: o.threshold,
    lastAttend: state.lastAttend,
    rewindThreshold: o.rewindThreshold,
    afterSpecial: (state.tokens.at(-1) ?? state.prefixLast) >= o.eot,
    isLast: o.isLast,
  });
  const frames = [...state.frames, frame];
  if (rule.verdict === 'rewind') return { verdict: 'rewind', state: { ...state, lastAttend: rule.lastAttend, tokens: [], frames: [] } };
  if (rule.verdict === 'stop') return { verdict: 'threshold', state: { ...state, lastAttend: rule.lastAttend, frames } };
  const tokens = [...state.tokens, token];
  const next: PolicyState = { ...state, lastAttend: rule.lastAttend, tokens, frames };
  if (o.repetitionGuard) {
    const repeated = repetitionStart([...state.committed, ...tokens]);
    if (repeated >= 0) return { verdict: 'repetition', state: { ...next, tokens: tokens.slice(0, Math.max(0, repeated - state.committed.length)) } };
  }
  if (tokens.length >= o.cap) return { verdict: 'cap', state: next };
  return { verdict: 'continue', state: next };
}
