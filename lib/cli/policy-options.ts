import { Command, Option } from 'commander';
import type { AlignAttOptions } from '../decode/align-att.js';
import { DEFAULTS } from '../defaults.js';
import { InvalidOptionError, SimulstreamError } from '../errors.js';
import { languageCode, unknownLanguageMessage } from '../text/languages.js';
import { floatArg, intArg } from './options.js';

/** SimulStreaming's Whisper and AlignAtt flags, with its names and defaults. */
export function addPolicyOptions(cmd: Command): Command {
  return cmd
    .option('--min-chunk-size <s>', 'seconds of audio per policy iteration', floatArg(0.01, 30), DEFAULTS.minChunkSize)
    .option('--language <lang>', 'a language code or English name in any case (fr, FR, French; the list: simulstream languages), or "auto" to detect it once (alias --lan)', DEFAULTS.language)
    .addOption(new Option('--task <task>', 'transcribe or translate').choices(['transcribe', 'translate']).default(DEFAULTS.task))
    .option('-b, --beams <n>', 'beam size (1 = greedy)', intArg(1, 32), DEFAULTS.beams)
    .addOption(new Option('--decoder <type>', 'greedy or beam (default: from --beams)').choices(['greedy', 'beam']))
    .option('--audio_max_len <s>', 'seconds of audio kept in the buffer', floatArg(0.1, 30), DEFAULTS.audioMaxLen)
    .option('--audio_min_len <s>', 'decode nothing while the buffer is shorter', floatArg(0, 30), DEFAULTS.audioMinLen)
    .option('--frame_threshold <n>', 'AlignAtt: stop when a token attends within this many 20 ms frames of the end', intArg(0, 1500), DEFAULTS.frameThreshold)
    .option('--cif_ckpt_path <file>', 'Simul-Whisper CIF model (not supported)')
    .option('--never_fire', 'hold back the last word of each iteration until the next one (SimulStreaming\'s code)', false)
    .option('--no-never_fire', 'do not hold back the last word (default)')
    .option('--init_prompt <text>', 'initial prompt; scrolls away as text accumulates')
    .option('--static_init_prompt <text>', 'prompt kept for the whole stream (terminology)')
    .option('--max_context_tokens <n>', 'most context tokens', intArg(0, 448))
    .addOption(
      new Option('--encoder-window <s>', "encoder window: 30 (Whisper's, SimulStreaming's) or auto (the buffered audio rounded up to 2 s: faster on short buffers; OpenAI's models were trained on 30 s)")
        .choices(['30', 'auto'])
        .default('30'),
    )
    .addOption(
      new Option('--compat <peer>', "behave as the named implementation: every one of our differences below takes SimulStreaming's behaviour unless given explicitly").choices([
        'simulstreaming',
      ]),
    )
    .option('--repetition-guard', 'cut a decoding loop (an n-gram repeated 3+ times over 12+ tokens), keeping one copy (default; SimulStreaming: none)')
    .option('--no-repetition-guard', 'never cut repetitions')
    .option('--max-tokens-per-second <n>', 'most committed tokens per second of buffered audio (0: no cap; SimulStreaming: none)', floatArg(0), DEFAULTS.maxTokensPerSecond)
    .option('--final-frame-threshold <n>', 'the frame threshold of the final pass at the end of a stream or utterance (0: decode to the end of the text)', intArg(0, 1500), DEFAULTS.finalFrameThreshold)
    .option('--suppress-timestamps', 'never decode timestamp tokens (default; SimulStreaming can loop on them)')
    .option('--no-suppress-timestamps', 'allow timestamp tokens, as SimulStreaming does');
}

/** The policy options from parsed flags; inconsistent combinations are usage errors. */
export function policyOptions(
  o: Record<string, unknown>,
  given: (key: string) => boolean = () => false,
): AlignAttOptions & { minChunkSize: number } {
  const language = languageCode(String(o.language));
  if (language === undefined) throw new SimulstreamError('ERR_UNKNOWN_LANGUAGE', unknownLanguageMessage(String(o.language)));
  const beams = o.beams as number;
  const compat = o.compat === 'simulstreaming';
  const difference = <T>(key: string, ours: T, theirs: T): T => (given(key) ? (o[key] as T) : compat ? theirs : ours);
  if (o.decoder === 'greedy' && beams > 1) throw new InvalidOptionError('--decoder', "invalid 'greedy' decoder type for beams > 1; use 'beam'");
  if (o.cif_ckpt_path) {
    throw new InvalidOptionError(
      '--cif_ckpt_path',
      'CIF end-of-word models are not supported (none exists for large-v3 or turbo); use --never_fire to hold back the last word instead',
    );
  }
  const minChunkSize = o.minChunkSize as number;
  const audioMaxLen = o.audio_max_len as number;
  if (minChunkSize >= audioMaxLen) throw new InvalidOptionError('--min-chunk-size', 'min_chunk_size must be smaller than audio_max_len');
  if ((o.audio_min_len as number) > audioMaxLen) throw new InvalidOptionError('--audio_min_len', 'audio_min_len must be smaller than audio_max_len');
  return {
    minChunkSize,
    language,
    task: o.task as 'transcribe' | 'translate',
    beams: o.decoder === 'beam' ? Math.max(beams, 1) : beams,
    audioMaxLen,
    audioMinLen: o.audio_min_len as number,
    frameThreshold: o.frame_threshold as number,
    neverFire: Boolean(o.never_fire),
    ...(o.init_prompt !== undefined ? { initPrompt: o.init_prompt as string } : {}),
    ...(o.static_init_prompt !== undefined ? { staticInitPrompt: o.static_init_prompt as string } : {}),
    ...(o.max_context_tokens !== undefined ? { maxContextTokens: o.max_context_tokens as number } : {}),
    encoderWindow: o.encoderWindow === 'auto' ? 'auto' : 'full',
    // our differences from SimulStreaming: given explicitly, else SimulStreaming's with --compat, else ours
    repetitionGuard: difference('repetitionGuard', DEFAULTS.repetitionGuard, false),
    maxTokensPerSecond: difference('maxTokensPerSecond', DEFAULTS.maxTokensPerSecond, 0),
    suppressTimestamps: difference('suppressTimestamps', DEFAULTS.suppressTimestamps, false),
    finalFrameThreshold: o.finalFrameThreshold as number,
  };
}
