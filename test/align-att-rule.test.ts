import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BeamSearchDecoder, GreedyDecoder } from '../lib/decode/token-decoder.js';
import { alignAttRule, type AlignAttRuleInput } from '../lib/policy/align-att-rule.js';

const base: AlignAttRuleInput = { frame: 10, contentFrames: 100, threshold: 25, lastAttend: 5, rewindThreshold: 200, afterSpecial: false, isLast: false };

describe('the AlignAtt rule (pure: frames in, verdict out)', () => {
  it('keeps a token that attends more than the threshold before the end', () => {
    assert.deepEqual(alignAttRule(base), { verdict: 'continue', lastAttend: 10 });
    assert.deepEqual(alignAttRule({ ...base, frame: 74 }), { verdict: 'continue', lastAttend: 74 });
  });

  it('stops at a token within the threshold of the end (100 - 75 = 25 ≤ 25)', () => {
    assert.deepEqual(alignAttRule({ ...base, frame: 75 }), { verdict: 'stop', lastAttend: 75 });
    assert.deepEqual(alignAttRule({ ...base, frame: 99 }), { verdict: 'stop', lastAttend: 99 });
  });

  it('uses the final pass threshold it is given', () => {
    assert.equal(alignAttRule({ ...base, frame: 95, threshold: 4, isLast: true }).verdict, 'continue');
    assert.equal(alignAttRule({ ...base, frame: 96, threshold: 4, isLast: true }).verdict, 'stop');
  });

  it('discards the iteration on a jump back of more than the rewind threshold', () => {
    assert.deepEqual(alignAttRule({ ...base, lastAttend: 211, frame: 10 }), { verdict: 'rewind', lastAttend: -200 });
    // exactly 200 back is not a rewind
    assert.deepEqual(alignAttRule({ ...base, lastAttend: 210, frame: 10 }), { verdict: 'continue', lastAttend: 10 });
  });

  it('allows a jump back after a special token, and never rewinds in the final pass', () => {
    assert.deepEqual(alignAttRule({ ...base, lastAttend: 400, frame: 10, afterSpecial: true }), { verdict: 'continue', lastAttend: 10 });
    assert.deepEqual(alignAttRule({ ...base, lastAttend: 400, frame: 10, isLast: true }), { verdict: 'continue', lastAttend: 10 });
    // after a special token the threshold still applies
    assert.deepEqual(alignAttRule({ ...base, lastAttend: 400, frame: 90, afterSpecial: true }), { verdict: 'stop', lastAttend: 90 });
  });
});

/** A log-probability row over a 6-token vocabulary. */
function lp(...p: number[]): Float64Array {
  return Float64Array.from(p.map((x) => (x === 0 ? Number.NEGATIVE_INFINITY : Math.log(x))));
}
const EOT = 5;

describe("OpenAI's token decoders, step by step", () => {
  it('greedy: the argmax (lowest index on ties); complete at <|endoftext|>', () => {
    const g = new GreedyDecoder(EOT);
    let s = g.update([[]], [lp(0.1, 0.4, 0.4, 0.1, 0, 0)]);
    assert.deepEqual(s, { rows: [[1]], sources: [0], completed: false });
    s = g.update(s.rows, [lp(0.1, 0.1, 0.1, 0.1, 0.1, 0.5)]);
    assert.deepEqual(s, { rows: [[1, EOT]], sources: [0], completed: true });
    assert.deepEqual(g.finalize(s.rows).tokens, [1]);
  });

  it('beam: keeps the best non-ending sequences, sets aside finished ones, completes after `width` finished', () => {
    const b = new BeamSearchDecoder(2, EOT);
    // first step: identical rows (the prefix fed once), three candidates each
    let s = b.update([[], []], [lp(0.5, 0.3, 0.2, 0, 0, 0), lp(0.5, 0.3, 0.2, 0, 0, 0)]);
    assert.deepEqual(s.rows, [[0], [1]]);
    // a sequence reached from both rows keeps its last source, as OpenAI's dict does
    assert.deepEqual(s.sources, [1, 1]);
    assert.equal(s.completed, false);
    // [0, EOT] (0.35) is the best candidate: set aside as finished; the beam goes on with
    // [1, 2] (0.3 × 0.6 = 0.18) and [0, 3] (0.1), ranked by summed log-probability
    s = b.update(s.rows, [lp(0.1, 0, 0, 0.2, 0, 0.7), lp(0, 0, 0.6, 0.3, 0, 0.1)]);
    assert.deepEqual(s.rows, [[1, 2], [0, 3]]);
    assert.deepEqual(s.sources, [1, 0]);
    assert.equal(s.completed, false);
    // [1, 2, EOT] (0.162) finishes second: two finished sequences complete a beam of 2
    s = b.update(s.rows, [lp(0, 0, 0, 0, 0.1, 0.9), lp(0, 0, 0, 0, 0.2, 0.8)]);
    assert.equal(s.completed, true);
    assert.deepEqual(s.rows, [[0, 3, 4], [1, 2, 4]]);
    // OpenAI's ranking divides by length: log(0.162) / 2 beats log(0.35) / 1
    assert.deepEqual(b.finalize(s.rows).tokens, [1, 2]);
  });
});
