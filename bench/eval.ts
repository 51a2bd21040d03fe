// Accuracy and lag: word error rate, emission lag against the audio and real-time factor over a
// manifest (JSON Lines of {"audio": path, "text": reference, "language": "fr", "segments"?: [...]}),
// printed as Markdown tables.
//   npm run eval                      # the demo model on its test set (../shared/toy-whisper-v3), every section
//   npm run eval -- --quick           # every 5th short file and both long ones; SimulStreaming's defaults case only
//   npm run eval -- --sections grid --min-chunk-size 0.5 --frame_threshold 15 --vac
//   npm run eval -- --manifest my.jsonl --model_path ./small.pt --sections offline,grid
// Sections:
//   offline         whole-file greedy decoding (30 s windows)
//   grid            streaming: --min-chunk-size 0.5/1.0/1.2 × --frame_threshold 15/25, with and without --vac
//                   (or the one configuration given with those flags)
//   differences     our default against each of our deliberate differences from SimulStreaming turned off
//   simulstreaming  SimulStreaming's own updates (peer-reference-v3) scored with the same scorer, beside ours
//                   on the same files and flags, computation-unaware (emission time = the chunk's end)
// Lag: for each sentence of the files whose manifest entry gives `segments` (the long files), the
// emission time of the last word attributed to it minus its end (lib/eval/sentence-lag.ts).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, Option } from 'commander';
import { floatArg, intArg } from '../lib/cli/options.js';
import { addPolicyOptions, policyOptions } from '../lib/cli/policy-options.js';
import { evaluate, fileResult, report, werOf, type EvalOptions, type EvalReport, type FileResult } from '../lib/eval/evaluate.js';
import { readManifest, type ManifestEntry } from '../lib/eval/manifest.js';
import { pairedSentenceLags, type SentenceLagSummary } from '../lib/eval/sentence-lag.js';
import { loadModel, type LoadedModel } from '../lib/model/load-model.js';
import { SileroVad } from '../lib/vad/silero-vad.js';
import { SHARED, TOY, toyClipsManifest } from '../test/helpers/fixtures.js';
import { readPeerReference, type PeerFile } from './peer-updates.js';

const SECTIONS = ['offline', 'grid', 'differences', 'simulstreaming'] as const;
type Section = (typeof SECTIONS)[number];

/** One streaming configuration: its flags as `simulstream transcribe` takes them. */
interface Run {
  readonly label: string;
  readonly flags: readonly string[];
}

interface Row {
  readonly label: string;
  readonly flags: readonly string[];
  readonly report: EvalReport;
}

const TEST_SET = SHARED ? path.join(SHARED, 'toy-whisper-v3', 'test') : undefined;
const PEER = SHARED ? path.join(SHARED, 'peer-reference-v3') : undefined;

/** The flags of a run → evaluation options, through the CLI's own flag parser (same names, defaults, `--compat`). */
async function optionsFor(flags: readonly string[], vad: () => Promise<SileroVad>): Promise<{ options: EvalOptions; language: string }> {
  const cmd = addPolicyOptions(new Command('run'))
    .option('--vac', 'voice activity control', false)
    .option('--comp_unaware', 'SimulStreaming file loop', false)
    .option('--no-final-pass', 'no end-of-stream pass')
    .option('--final_frame_threshold <n>', 'the final pass\'s frame threshold (library option finalFrameThreshold; SimulStreaming: 4)', intArg(0, 1500))
    .exitOverride();
  cmd.parse([...flags], { from: 'user' });
  const o = cmd.opts();
  const policy = policyOptions(o, (key) => cmd.getOptionValueSource(key) === 'cli');
  const { language, ...align } = policy;
  const options: EvalOptions = {
    ...align,
    mode: 'streaming',
    ...(o.vac ? { vad: await vad() } : {}),
    ...(o.comp_unaware ? { chunking: 'simulstreaming' as const } : {}),
    ...(o.finalPass === false ? { finalPass: false } : {}),
    ...(o.final_frame_threshold !== undefined ? { finalFrameThreshold: o.final_frame_threshold as number } : {}),
  };
  return { options, language: language ?? 'en' };
}

// ---- formatting

const pct = (w: { wer: number } | undefined): string => (w ? `${w.wer.toFixed(1)} %` : '–');
const sec = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(2)}` : '–');
const lagCell = (l: SentenceLagSummary | undefined): string => (l ? `${sec(l.mean)} / ${sec(l.p50)} / ${sec(l.p90)} s` : '–');
const RTF_HEADER = 'real-time factor (wall; CPU s per s)';
const rtf = (r: EvalReport): string => `${r.realTimeFactor.toFixed(3)}; ${r.cpuPerAudioSecond.toFixed(3)}`;
const flagCell = (f: readonly string[]): string => (f.length ? `\`${f.join(' ')}\`` : '(defaults)');

/** WER per group: `fr`, `en` (files without sentence times) and `long-fr`, `long-en` (with). */
function groups(results: readonly FileResult[], entries: readonly ManifestEntry[]): Record<string, ReturnType<typeof werOf>> {
  const long = new Set(entries.filter((e) => e.segments).map((e) => e.audio));
  const by: Record<string, FileResult[]> = {};
  for (const r of results) (by[`${long.has(r.audio) ? 'long-' : ''}${r.language}`] ??= []).push(r);
  return Object.fromEntries(Object.entries(by).map(([k, v]) => [k, werOf(v)]));
}

function werColumns(entries: readonly ManifestEntry[]): string[] {
  const long = new Set(entries.filter((e) => e.segments).map((e) => e.audio));
  const keys = new Set(entries.map((e) => `${long.has(e.audio) ? 'long-' : ''}${e.language}`));
  return ['fr', 'en', 'long-fr', 'long-en', ...[...keys].sort()].filter((k, i, a) => keys.has(k) && a.indexOf(k) === i);
}

function groupHeader(cols: readonly string[], entries: readonly ManifestEntry[]): string[] {
  return cols.map((c) => {
    const n = entries.filter((e) => `${e.segments ? 'long-' : ''}${e.language}` === c).length;
    return `WER ${c}${n > 1 ? ` (${n})` : ''}`;
  });
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

// ---- sections

async function runAll(lm: LoadedModel, entries: readonly ManifestEntry[], runs: readonly Run[], vad: () => Promise<SileroVad>, log: (m: string) => void): Promise<Row[]> {
  const rows: Row[] = [];
  for (const r of runs) {
    const { options } = await optionsFor(r.flags, vad);
    const t0 = performance.now();
    const rep = await evaluate(lm, entries, options);
    log(`  ${r.label} ${r.flags.join(' ')}: ${((performance.now() - t0) / 1000).toFixed(0)} s, WER ${JSON.stringify(Object.fromEntries(Object.entries(rep.wer).map(([k, v]) => [k, +v.wer.toFixed(2)])))}`);
    rows.push({ label: r.label, flags: r.flags, report: rep });
  }
  return rows;
}

function gridRuns(o: Record<string, unknown>, given: (k: string) => boolean): Run[] {
  if (given('minChunkSize') || given('frame_threshold') || given('vac')) {
    const flags = [
      '--min-chunk-size', String(o.minChunkSize),
      '--frame_threshold', String(o.frame_threshold),
      ...(o.vac ? ['--vac'] : []),
    ];
    return [{ label: 'given', flags }];
  }
  const runs: Run[] = [];
  for (const vac of [false, true]) {
    for (const chunk of ['0.5', '1.0', '1.2']) {
      for (const ft of ['15', '25']) runs.push({ label: `${chunk}/${ft}${vac ? '/vac' : ''}`, flags: ['--min-chunk-size', chunk, '--frame_threshold', ft, ...(vac ? ['--vac'] : [])] });
    }
  }
  return runs;
}

const DIFFERENCES: readonly Run[] = [
  { label: 'our default', flags: [] },
  { label: 'no repetition guard', flags: ['--no-repetition-guard'] },
  { label: 'no rate cap', flags: ['--max-tokens-per-second', '0'] },
  { label: 'timestamp tokens allowed', flags: ['--no-suppress-timestamps'] },
  { label: 'no end-of-stream pass (SimulStreaming\'s server)', flags: ['--no-final-pass'] },
  { label: 'all of SimulStreaming\'s behaviours', flags: ['--compat', 'simulstreaming'] },
  { label: 'experiment, not a default: the end-of-stream pass never stops on attention', flags: ['--final_frame_threshold', '0'] },
];

interface PeerRow {
  readonly case: string;
  readonly flags: readonly string[];
  readonly files: number;
  readonly simulstreaming: EvalReport;
  readonly compat: EvalReport;
  readonly ours: EvalReport;
  readonly oursAware: EvalReport;
}

/** SimulStreaming's updates scored as ours are, beside our runs on the same files with the same flags. */
async function simulstreamingSection(
  lm: LoadedModel,
  manifest: readonly ManifestEntry[],
  peer: readonly PeerFile[],
  vad: () => Promise<SileroVad>,
  log: (m: string) => void,
): Promise<PeerRow[]> {
  const byFile = new Map(manifest.map((e) => [path.basename(e.audio), e]));
  const rows: PeerRow[] = [];
  for (const name of [...new Set(peer.map((p) => p.case))]) {
    const files = peer.filter((p) => p.case === name);
    const entries = files.map((f) => byFile.get(f.file)!);
    const theirs = report(
      'streaming',
      files.map((f, i) => fileResult(entries[i]!, f.updates.map((u) => u.text).join(''), 0, 0, f.updates)),
    );
    // the case's flags, with each file's own language flag (the first two)
    const run = async (extra: readonly string[]): Promise<EvalReport> => {
      const results: FileResult[] = [];
      for (const [i, f] of files.entries()) {
        const { options, language } = await optionsFor([...f.flags, ...extra], vad);
        const r = await evaluate(lm, [{ ...entries[i]!, language }], options);
        // scored in the file's language (the `auto` case detects it)
        results.push({ ...r.results[0]!, language: entries[i]!.language, counts: fileResult(entries[i]!, r.results[0]!.hypothesis, 0, 0).counts });
      }
      return report('streaming', results);
    };
    const t0 = performance.now();
    const compat = await run(['--comp_unaware', '--compat', 'simulstreaming']);
    const ours = await run(['--comp_unaware']);
    const oursAware = await run([]);
    log(`  simulstreaming ${name}: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    rows.push({ case: name, flags: files[0]!.flags.slice(2), files: files.length, simulstreaming: theirs, compat, ours, oursAware });
  }
  return rows;
}

function totalWer(r: EvalReport): { wer: number } {
  return werOf(r.results);
}

/** Paired sentence lags of two runs over the same files. */
function pairedLags(a: EvalReport, b: EvalReport): { n: number; a: SentenceLagSummary; b: SentenceLagSummary } | undefined {
  const p = pairedSentenceLags(
    a.results.map((r) => r.sentenceLags ?? []),
    b.results.map((r) => r.sentenceLags ?? []),
  );
  return p && { n: p.sentences, a: p.a, b: p.b };
}

// ---- the command

const program = new Command('eval')
  .option('--manifest <file>', "JSON Lines manifest (default: the demo model's test set, ../shared/toy-whisper-v3/test)")
  .option('--model_path <file>', 'model file', path.join(TOY, 'ggml-toy.bin'))
  .option('--alignment_heads <spec>', "alignment heads (default: the model's own, see defaultAlignmentHeads)")
  .addOption(new Option('--sections <list>', `comma-separated: ${SECTIONS.join(', ')} (default: all for the demo model, offline,grid otherwise)`))
  .option('--min-chunk-size <s>', 'grid: only this chunk size', floatArg(0.01, 30), 1.2)
  .option('--frame_threshold <n>', 'grid: only this frame threshold', intArg(0, 1500), 25)
  .option('--vac', 'grid: only with voice activity control', false)
  .option('--quick', 'every 5th file without sentence times, every file with them; SimulStreaming: its defaults and long-form cases only', false)
  .option('--limit <n>', 'only the first N files', intArg(1))
  .option('--quantize <type>', 'int8: 8-bit weights for the encoder and decoder matmuls')
  .option('--threads <n>', 'ONNX Runtime intra-op threads (0: one per core)', intArg(0, 256), 0)
  .option('--json <file>', 'also write every figure and hypothesis as JSON to this file')
  .action(async (o: Record<string, unknown>) => {
    const given = (k: string): boolean => program.getOptionValueSource(k) === 'cli';
    const toy = path.resolve(o.model_path as string) === path.resolve(TOY, 'ggml-toy.bin') && !o.manifest;
    const sections = ((o.sections as string | undefined)?.split(',') ?? (toy ? [...SECTIONS] : ['offline', 'grid'])) as Section[];
    for (const s of sections) if (!SECTIONS.includes(s)) throw new Error(`--sections: unknown section "${s}" (${SECTIONS.join(', ')})`);
    if (o.quantize && o.quantize !== 'int8') throw new Error('--quantize: only int8');

    const manifest: ManifestEntry[] = o.manifest ? readManifest(o.manifest as string) : TEST_SET ? readManifest(path.join(TEST_SET, 'manifest.jsonl')) : toyClipsManifest();
    let entries = o.quick ? manifest.filter((e, i) => e.segments || i % 5 === 0) : manifest;
    if (o.limit) entries = entries.slice(0, o.limit as number);
    const log = (m: string): void => {
      process.stderr.write(`${m}\n`);
    };
    const lm = await loadModel({
      modelPath: o.model_path as string,
      precision: o.quantize === 'int8' ? 'int8' : 'fp32',
      threads: o.threads as number,
      ...(o.alignment_heads ? { alignmentHeads: o.alignment_heads as string } : {}),
      log,
    });
    let silero: SileroVad | undefined;
    const vad = async (): Promise<SileroVad> => (silero ??= await SileroVad.load());
    const timed = entries.filter((e) => e.segments).length;
    const out: string[] = [];
    const json: Record<string, unknown> = { model: lm.file, files: entries.length, cpu: os.cpus()[0]?.model, node: process.version };
    const cols = werColumns(entries);
    const say = (s: string): void => {
      out.push(s);
      console.log(s);
    };
    say(`Model ${path.basename(lm.file)}, ${entries.length} files (${timed} with sentence times), ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, Node ${process.version}\n`);

    if (sections.includes('offline')) {
      log('offline');
      const r = await evaluate(lm, entries, { mode: 'offline' });
      const g = groups(r.results, entries);
      say(table(['mode', ...groupHeader(cols, entries), RTF_HEADER], [['offline (greedy, 30 s windows)', ...cols.map((c) => pct(g[c])), rtf(r)]]));
      say('');
      json.offline = r;
    }

    const lagHeader = 'sentence lag mean / p50 / p90';
    const streamRow = (label: string[], rep: EvalReport): string[] => {
      const g = groups(rep.results, entries);
      return [...label, ...cols.map((c) => pct(g[c])), lagCell(rep.sentenceLag), rep.sentenceLag ? `${rep.sentenceLag.missed} of ${rep.sentenceLag.sentences}` : '–', rtf(rep)];
    };
    if (sections.includes('grid')) {
      log('grid');
      const rows = await runAll(lm, entries, gridRuns(o, given), vad, log);
      say(
        table(
          ['--min-chunk-size', '--frame_threshold', '--vac', ...groupHeader(cols, entries), lagHeader, 'sentences without a word', RTF_HEADER],
          rows.map((r) => {
            const f = r.flags;
            return streamRow([f[1]!, f[3]!, f.includes('--vac') ? 'yes' : 'no'], r.report);
          }),
        ),
      );
      say('');
      json.grid = rows;
    }

    if (sections.includes('differences')) {
      log('differences');
      const rows = await runAll(lm, entries, DIFFERENCES, vad, log);
      say(table(['configuration (1.2 s chunks, frame threshold 25)', 'flags', ...groupHeader(cols, entries), lagHeader, 'sentences without a word', RTF_HEADER], rows.map((r) => streamRow([r.label, flagCell(r.flags)], r.report))));
      say('');
      json.differences = rows;
    }

    if (sections.includes('simulstreaming')) {
      if (!PEER || !TEST_SET || !toy) throw new Error('--sections simulstreaming needs ../shared/peer-reference-v3 and the demo model');
      log('simulstreaming');
      let peer = readPeerReference(PEER);
      if (o.quick) peer = peer.filter((p) => p.case === 'defaults' || p.case === 'long-maxlen8');
      const rows = await simulstreamingSection(lm, manifest, peer, vad, log);
      const lag = (r: EvalReport): string =>
        r.sentenceLag ? `${sec(r.sentenceLag.p50)} (${sec(r.sentenceLag.mean)} / ${sec(r.sentenceLag.p90)}), ${r.sentenceLag.missed} of ${r.sentenceLag.sentences} missed` : '–';
      const paired = (r: PeerRow): string => {
        const p = pairedLags(r.simulstreaming, r.ours);
        return p ? `${sec(p.a.p50)} / ${sec(p.b.p50)} (${p.n})` : '–';
      };
      say(
        table(
          [
            'case (files)',
            'flags',
            'WER SimulStreaming',
            'WER ours, --compat simulstreaming',
            'WER ours (default)',
            'lag p50 (mean / p90) SimulStreaming',
            'lag ours, --compat',
            'lag ours (default)',
            'paired lag p50, SimulStreaming / ours (sentences)',
            'ours (default), computation-aware: WER, lag',
          ],
          rows.map((r) => [
            `${r.case} (${r.files})`,
            flagCell(r.flags),
            pct(totalWer(r.simulstreaming)),
            pct(totalWer(r.compat)),
            pct(totalWer(r.ours)),
            lag(r.simulstreaming),
            lag(r.compat),
            lag(r.ours),
            paired(r),
            `${pct(totalWer(r.oursAware))}, ${lag(r.oursAware)}`,
          ]),
        ),
      );
      const verdicts = rows.map((r) => {
        const [ws, wo] = [totalWer(r.simulstreaming).wer, totalWer(r.ours).wer];
        const werOk = wo <= ws + 0.5;
        const p = pairedLags(r.simulstreaming, r.ours);
        const lagText = p ? `, paired lag p50 ${sec(p.b.p50)} vs ${sec(p.a.p50)} ${p.b.p50 <= p.a.p50 ? 'ok' : 'HIGHER'}` : '';
        return `${r.case}: WER ${wo.toFixed(1)} vs ${ws.toFixed(1)} ${werOk ? 'ok' : 'WORSE'}${lagText}`;
      });
      say(`\nOur default against SimulStreaming (WER ≤ theirs + 0.5 points, median lag no higher): ${verdicts.join('; ')}\n`);
      json.simulstreaming = rows;
    }

    if (o.json) fs.writeFileSync(o.json as string, JSON.stringify({ ...json, markdown: out.join('\n') }, null, 1));
    await silero?.release();
    await lm.release();
  });
await program.parseAsync(process.argv);
