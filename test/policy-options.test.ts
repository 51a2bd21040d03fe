import assert from 'node:assert/strict';
import { Command } from 'commander';
import { describe, it } from 'node:test';
import { addPolicyOptions, policyOptions } from '../lib/cli/policy-options.js';
import { normalizeArgv } from '../lib/cli/options.js';

/** Parses policy flags as `transcribe` and `serve` do. */
function parse(args: string[]): ReturnType<typeof policyOptions> {
  const cmd = addPolicyOptions(new Command('t').exitOverride().configureOutput({ writeErr: () => {} }).option('--comp_unaware'));
  cmd.parse(normalizeArgv(args), { from: 'user' });
  return policyOptions(cmd.opts(), (key) => cmd.getOptionValueSource(key) === 'cli');
}

describe('our differences from SimulStreaming as options', () => {
  it('are on by default', () => {
    const o = parse([]);
    assert.deepEqual([o.repetitionGuard, o.maxTokensPerSecond, o.suppressTimestamps], [true, 22.5, true]);
    assert.equal('compat' in o, false, 'the options go to transcriber() as they are');
  });

  it('--compat simulstreaming turns each off', () => {
    const o = parse(['--compat', 'simulstreaming']);
    assert.deepEqual([o.repetitionGuard, o.maxTokensPerSecond, o.suppressTimestamps], [false, 0, false]);
  });

  it('an option given explicitly wins over --compat, in either order', () => {
    const a = parse(['--repetition-guard', '--compat', 'simulstreaming', '--max-tokens-per-second', '30']);
    assert.deepEqual([a.repetitionGuard, a.maxTokensPerSecond, a.suppressTimestamps], [true, 30, false]);
    const b = parse(['--no-suppress-timestamps', '--no-repetition-guard']);
    assert.deepEqual([b.repetitionGuard, b.maxTokensPerSecond, b.suppressTimestamps], [false, 22.5, false]);
  });

  it("--encoder-window: Whisper's 30 s by default and with --compat simulstreaming; auto when asked", () => {
    assert.equal(parse([]).encoderWindow, 'full');
    assert.equal(parse(['--compat', 'simulstreaming']).encoderWindow, 'full');
    assert.equal(parse(['--encoder-window', 'auto']).encoderWindow, 'auto');
    assert.throws(() => parse(['--encoder-window', '10']), { code: 'commander.invalidArgument' });
  });

  it('--comp-unaware is an alias of --comp_unaware, and an unknown --compat is a usage error', () => {
    assert.deepEqual(normalizeArgv(['--comp-unaware']), ['--comp_unaware']);
    assert.throws(() => parse(['--compat', 'whisperlive']), { code: 'commander.invalidArgument' });
  });
});
