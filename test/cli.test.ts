// What a stranger sees on the command line: --version, one error line, exit codes that mean
// something, languages by name, a closed stdout. Every case here was once a stack trace or a
// silent success.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { editDistance, nearest } from '../lib/util/nearest.js';
import { languageCode, suggestLanguage } from '../lib/text/languages.js';
import { runCli, runShell, toyModelArgs, type CliResult } from './helpers/cli.js';
import { ROOT, TOY, tempDir } from './helpers/fixtures.js';

const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const FR = path.join(TOY, 'fr-000.wav');
/** A model that does not exist: a command that got as far as loading it would fail on it instead. */
const NO_MODEL = ['--model_path', '/nonexistent/ggml-none.bin'];

/** The error is one line on stderr, `simulstream: …`, the last one (progress lines such as the model's may come before it), and no stack frame. */
function oneLine(r: CliResult, message: RegExp): void {
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.filter((l) => l.startsWith('simulstream: ')).length, 1, r.stderr);
  assert.match(lines.at(-1)!, /^simulstream: /u);
  assert.match(lines.at(-1)!, message);
  assert.doesNotMatch(r.stderr, /\n\s+at |TypeError|ReferenceError/u);
}

describe('nearest', () => {
  it('edit distance, and the closest candidate only when it is close', () => {
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(nearest('frnch', ['english', 'french', 'german']), 'french');
    assert.equal(nearest('FRENCH', ['english', 'french']), 'french', 'case-insensitive');
    assert.equal(nearest('xyzzy', ['english', 'french']), undefined, 'nothing close: no suggestion');
    assert.equal(nearest('--min-chunk', ['--min-chunk-size', '--language'], { maxDistance: 5 }), '--min-chunk-size');
  });

  it('languages: codes and names in any case; the nearest one suggested', () => {
    for (const s of ['fr', 'FR', 'French', 'french', ' FRENCH ']) assert.equal(languageCode(s), 'fr', s);
    assert.equal(languageCode('castilian'), 'es');
    assert.equal(languageCode('Haitian Creole'), 'ht');
    assert.equal(languageCode('AUTO'), 'auto');
    assert.equal(languageCode('xx'), undefined);
    assert.equal(suggestLanguage('frnch'), '"french" (fr)');
    assert.equal(suggestLanguage('germn'), '"german" (de)');
    assert.equal(suggestLanguage('qqqqqqqq'), undefined);
  });
});

describe('simulstream on the command line', () => {
  it('--version prints the package version', async () => {
    for (const flag of ['--version', '-V']) {
      const r = await runCli([flag]);
      assert.equal(r.code, 0);
      assert.equal(r.stdout, `${VERSION}\n`);
    }
    const bin = await runShell('$SIMULSTREAM --version');
    assert.deepEqual([bin.code, bin.stdout, bin.stderr], [0, `${VERSION}\n`, '']);
  });

  it('usage errors: exit 2 from every command, one line with a pointer to --help, before any model is loaded', async () => {
    const cases: [string[], RegExp][] = [
      [['--frobnicate'], /unknown option '--frobnicate' \(see simulstream --help\)$/u],
      [['transcribe', FR, ...NO_MODEL, '--frobnicate'], /unknown option '--frobnicate' \(see simulstream transcribe --help\)$/u],
      [['transcribe', FR, ...NO_MODEL, '--language', 'xx'], /unknown language "xx".* \(see simulstream transcribe --help\)$/u],
      [['transcribe', FR, ...NO_MODEL, '--language', 'frnch'], /unknown language "frnch"; did you mean "french" \(fr\)\?/u],
      [['transcribe', FR, ...NO_MODEL, '--min-chunk-size', 'big'], /option '--min-chunk-size <s>' argument 'big' is invalid/u],
      [['transcribe', FR], /--model: give --model NAME .* or --model_path FILE/u],
      [['transcribe', FR, '--model', 'smal'], /--model: unknown model "smal"; did you mean "small"\?/u],
      [['transcribe', FR, ...NO_MODEL, '--offline', '--json'], /--json: .*with --offline use --output-format json/u],
      [['transcribe', FR, ...NO_MODEL, '--output-format', 'all'], /--output-format: all writes one file per format: give --output-dir DIR/u],
      [['transcribe', FR, ...NO_MODEL, '--alignment_heads', '1-2'], /--alignment_heads: "1-2" is not "layer,head"/u],
      [['transcribe', FR, ...NO_MODEL, '--output-format', 'docx'], /argument 'docx' is invalid. Allowed choices are lines, txt, json, srt, vtt, all/u],
      [['serve', ...NO_MODEL, '--language', 'xx'], /unknown language "xx".* \(see simulstream serve --help\)$/u],
      [['serve', ...NO_MODEL, '--port', 'abc'], /option '--port <n>' argument 'abc' is invalid/u],
      [['serve', ...NO_MODEL, '--warmup-file', '/nonexistent.wav'], /--warmup-file: \/nonexistent\.wav: no such file/u],
      [['serve', ...NO_MODEL, '--host', '0.0.0.0', '--http-port', '0'], /--http-token: the HTTP port on 0\.0\.0\.0 would publish every caller's live transcript/u],
      [['bridge', '--auto', '--embedded', ...NO_MODEL, '--language', 'xx'], /unknown language "xx".* \(see simulstream bridge --help\)$/u],
      [['bridge', '--auto', '--http-port', '0', '--http-host', '0.0.0.0'], /--http-token: .*bind --http-host to 127\.0\.0\.1/u],
      [['bridge'], /choose exactly one of --test-connection/u],
      [['models', 'pull'], /missing required argument 'name' \(see simulstream models pull --help\)$/u],
      [['models', 'lst'], /unknown command 'lst' \(Did you mean list\?\) \(see simulstream models --help\)$/u],
      [['models', 'pull', 'tiny', '--mirror', 'ftp://x'], /--mirror: ftp:\/\/ is not supported/u],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      oneLine(r, message);
      assert.equal(r.stdout, '', args.join(' '));
    }
  });

  it('--language takes codes and names in any case: fr, FR and French give the same transcript', async () => {
    const outs: string[] = [];
    for (const lang of ['fr', 'FR', 'French']) {
      const r = await runCli(['transcribe', FR, ...toyModelArgs(), '--language', lang, '--min-chunk-size', '0.5']);
      assert.equal(r.code, 0, r.stderr);
      outs.push(r.stdout);
    }
    assert.ok(outs[0]!.length > 0);
    assert.deepEqual(outs, [outs[0], outs[0], outs[0]]);
    const list = await runCli(['languages']);
    assert.equal(list.stdout.split('\n').filter(Boolean).length, 100);
    assert.match(list.stdout, /^fr {3}french$/mu);
  });

  it('runtime failures: exit 1, one line, no stack (a stack only with SIMULSTREAM_DEBUG=1)', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'empty.wav'), '');
    const cases: [string[], RegExp][] = [
      [['transcribe', path.join(dir, 'missing.wav'), ...NO_MODEL], /missing\.wav: no such file$/u],
      [['transcribe', dir, ...NO_MODEL], /: is a directory$/u],
      [['transcribe', path.join(dir, 'empty.wav'), ...NO_MODEL], /empty\.wav: the input is empty \(no audio\)$/u],
      [['transcribe', FR, ...NO_MODEL], /ggml-none\.bin/u],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      oneLine(r, message);
    }
    // stdin that is a terminal is not audio
    const tty = Object.assign(Readable.from([]), { isTTY: true });
    const onTty = await runCli(['transcribe', '-', ...NO_MODEL], { stdin: tty });
    assert.equal(onTty.code, 1);
    oneLine(onTty, /stdin is a terminal, not audio: pipe audio into it/u);
    // an error that is not ours (the output directory cannot be made): one line too
    fs.writeFileSync(path.join(dir, 'a-file'), '');
    const args = ['transcribe', FR, ...toyModelArgs(), '--language', 'fr', '--output-format', 'txt', '--output-dir', path.join(dir, 'a-file', 'sub')];
    const plain = await runCli(args);
    assert.equal(plain.code, 1);
    oneLine(plain, /ENOTDIR.*\(set SIMULSTREAM_DEBUG=1 for the details\)$/u);
    const debug = await runCli(args, { env: { ...process.env, SIMULSTREAM_DEBUG: '1' } });
    assert.equal(debug.code, 1);
    assert.match(debug.stderr, /^simulstream: ENOTDIR[^\n]*\nError: ENOTDIR[^\n]*\n\s+at /mu);
  });

  it('--device cuda without CUDA: one warning line, no ONNX Runtime error block, no escape codes; then the CPU', async () => {
    const args = toyModelArgs().map((a) => `'${a}'`).join(' ');
    const r = await runShell(`$SIMULSTREAM transcribe ${FR} ${args} --language fr --device cuda`, { ...process.env, NO_COLOR: '1' });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.length > 0, 'transcribed on the CPU');
    assert.doesNotMatch(r.stderr, /\x1b\[|onnxruntime:|provider_bridge/u);
    assert.equal(r.stderr.split('\n').filter((l) => /CUDA/u.test(l)).length, 1, r.stderr);
    assert.match(r.stderr, /^CUDA is not available \(.+\); running on the CPU$/mu);
  });

  it('a closed stdout (| head, | true) ends quietly with exit 0', async () => {
    for (const cmd of ['$SIMULSTREAM models list', '$SIMULSTREAM languages', `$SIMULSTREAM transcribe ${FR} ${toyModelArgs().map((a) => `'${a}'`).join(' ')} --language fr --min-chunk-size 0.3`]) {
      for (const reader of ['head -1 >/dev/null', 'true']) {
        const r = await runShell(`${cmd} | ${reader}; echo "exit=\${PIPESTATUS[0]}"`);
        assert.equal(r.stdout, 'exit=0\n', `${cmd} | ${reader}: ${r.stderr}`);
        assert.doesNotMatch(r.stderr, /EPIPE|Error|\n\s+at /u, `${cmd} | ${reader}`);
      }
    }
  });
});
