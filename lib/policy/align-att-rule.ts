/**
 * The AlignAtt rule for one decoded token, as SimulStreaming's `PaddedAlignAttWhisper.infer` applies
 * it: a pure function of frame counts.
 */
export interface AlignAttRuleInput {
  /** The newest token's most-attended frame (20 ms encoder frames from the buffer's start). */
  readonly frame: number;
  /** Frames of real audio in the buffer (`samples / 320`). */
  readonly contentFrames: number;
  /** Stop when the token attends within this many frames of the end (4 in the final pass). */
  readonly threshold: number;
  /** The previous token's most-attended frame (or `-rewindThreshold` at the start). */
  readonly lastAttend: number;
  /** A jump back of more than this many frames is a failed attention. */
  readonly rewindThreshold: number;
  /** The token before the newest one is special (`>= <|endoftext|>`): a jump back is expected. */
  readonly afterSpecial: boolean;
  /** The final pass never rewinds. */
  readonly isLast: boolean;
}

export type AlignAttVerdict =
  /** keep the token and decode the next one */
  | 'continue'
  /** drop the token: it attends too close to the end of the audio; wait for more */
  | 'stop'
  /** discard the whole iteration: the attention jumped back */
  | 'rewind';

export interface AlignAttRuleOutput {
  readonly verdict: AlignAttVerdict;
  /** The frame to compare the next token with. */
  readonly lastAttend: number;
}

export function alignAttRule(i: AlignAttRuleInput): AlignAttRuleOutput {
  let lastAttend = i.frame;
  if (!i.isLast && i.lastAttend - i.frame > i.rewindThreshold && !i.afterSpecial) {
    return { verdict: 'rewind', lastAttend: -i.rewindThreshold };
  }
  if (i.contentFrames - i.frame <= i.threshold) return { verdict: 'stop', lastAttend };
  return { verdict: 'continue', lastAttend };
}
