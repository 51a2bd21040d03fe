// The policy's one decision, on plain numbers: SimulStreaming's AlignAtt rule
// (PaddedAlignAttWhisper.infer: eot, the frame threshold, the 200-frame rewind that a token after a
// special one is spared, no rewind in the final pass) and our two differences (repetition guard, cap).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initialPolicyState, mostAttended, policyStep, type PolicyStepOptions } from '../lib/policy/policy-step.js';

const EOT = 50257;
const NOTIMESTAMPS = 50363;
const O: PolicyStepOptions = { contentFrames: 100, threshold: 25, rewindThreshold: 200, isLast: false, eot: EOT, repetitionGuard: true, cap: Infinity };

/** An attention row over `n` frames whose maximum is at `at`. */
function row(at: number, n = 100): number[] {
  return Array.from({ length: n }, (_, f) => (f === at ? 1 : 0));
}

describe('policyStep', () => {
  it('keeps a token that attends far enough from the end, and records its frame', () => {
    const r = policyStep(initialPolicyState(-200, [], NOTIMESTAMPS), row(40), 1000, O);
    assert.equal(r.verdict, 'continue');
    assert.deepEqual([r.state.tokens, r.state.frames, r.state.lastAttend], [[1000], [40], 40]);
  });

  it('drops a token within frame_threshold of the end (content − frame ≤ threshold), at 25 and at 4 in the final pass', () => {
    const s = initialPolicyState(-200, [], NOTIMESTAMPS);
    assert.equal(policyStep(s, row(74), 1000, O).verdict, 'continue'); // 26 frames from the end
    const stopped = policyStep(s, row(75), 1000, O); // 25 frames from the end
    assert.equal(stopped.verdict, 'threshold');
    assert.deepEqual([stopped.state.tokens, stopped.state.lastAttend], [[], 75]);
    assert.equal(policyStep(s, row(95), 1000, { ...O, isLast: true, threshold: 4 }).verdict, 'continue');
    assert.equal(policyStep(s, row(96), 1000, { ...O, isLast: true, threshold: 4 }).verdict, 'threshold');
  });

  it('discards the iteration when the attention jumps back more than 200 frames, but not after a special token nor in the final pass', () => {
    const after = policyStep(initialPolicyState(250, [7], NOTIMESTAMPS), row(40, 300), 1000, { ...O, contentFrames: 300 });
    assert.equal(after.verdict, 'continue', 'the first token follows <|notimestamps|>');
    const s = { ...initialPolicyState(250, [7], NOTIMESTAMPS), tokens: [1000], frames: [250] };
    const back = policyStep(s, row(40, 300), 1001, { ...O, contentFrames: 300 });
    assert.equal(back.verdict, 'rewind');
    assert.deepEqual([back.state.tokens, back.state.frames, back.state.lastAttend], [[], [], -200]);
    assert.equal(policyStep(s, row(50, 300), 1001, { ...O, contentFrames: 300 }).verdict, 'continue', 'exactly 200 back is no rewind');
    assert.equal(policyStep(s, row(40, 300), 1001, { ...O, contentFrames: 300, isLast: true, threshold: 4 }).verdict, 'continue');
  });

  it('ends at <|endoftext|> without keeping it or moving the last attended frame', () => {
    const s = { ...initialPolicyState(-200, [], NOTIMESTAMPS), tokens: [1000], frames: [30], lastAttend: 30 };
    const r = policyStep(s, row(90), EOT, O);
    assert.equal(r.verdict, 'eot');
    assert.deepEqual(r.state, s);
  });

  it('repetition guard: a loop (3 copies over ≥ 12 tokens, counting the committed prefix) keeps one copy', () => {
    const loop = [11, 12, 13, 14];
    const s = { ...initialPolicyState(-200, [...loop, ...loop], NOTIMESTAMPS), tokens: [11, 12, 13], frames: [1, 2, 3], lastAttend: 3 };
    const r = policyStep(s, row(4), 14, O);
    assert.equal(r.verdict, 'repetition');
    assert.deepEqual(r.state.tokens, [], 'the committed prefix already holds the copy that is kept');
    const off = policyStep(s, row(4), 14, { ...O, repetitionGuard: false });
    assert.equal(off.verdict, 'continue');
  });

  it('cap: the token that reaches the cap is kept, and the iteration ends', () => {
    const s = { ...initialPolicyState(-200, [], NOTIMESTAMPS), tokens: [1, 2], frames: [1, 2], lastAttend: 2 };
    const r = policyStep(s, row(3), 3, { ...O, cap: 3 });
    assert.equal(r.verdict, 'cap');
    assert.deepEqual(r.state.tokens, [1, 2, 3]);
  });

  it('the most-attended frame is the first maximum', () => {
    assert.equal(mostAttended([0, 2, 5, 5, 1]), 2);
    assert.equal(mostAttended([3]), 0);
  });
});
