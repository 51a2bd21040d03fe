import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { alignWords } from '../lib/eval/align.js';
import { emittedWords } from '../lib/eval/emitted-words.js';
import { evaluate } from '../lib/eval/evaluate.js';
import { percentile, summarizeLags } from '../lib/eval/lag.js';
import { readManifest } from '../lib/eval/manifest.js';
import { sentenceLags, summarizeSentenceLags } from '../lib/eval/sentence-lag.js';
import { normalizeEnglish, normalizeFrench } from '../lib/eval/normalize.js';
import { werCounts, werPercent, wordErrors } from '../lib/eval/wer.js';
import { tempDir } from './helpers/fixtures.js';

describe('evaluate() options', () => {
  it('an unknown key or mode is ERR_INVALID_OPTION before any file is read, naming the nearest key', async () => {
    const entries = [{ audio: '/nonexistent.wav', text: 'x', language: 'fr' }];
    await assert.rejects(evaluate({} as never, entries, { mode: 'streaming', minChunkSise: 1 } as never), {
      code: 'ERR_INVALID_OPTION',
      message: /evaluate\(\) has no option "minChunkSise"; did you mean "minChunkSize"\?/u,
    });
    await assert.rejects(evaluate({} as never, entries, { mode: 'both' } as never), { code: 'ERR_INVALID_OPTION', message: /^mode: /u });
  });
});

describe('text normalisers', () => {
  it('French: case, punctuation, apostrophes and hyphens; accents and number words kept', () => {
    assert.equal(normalizeFrench("L'agence de Grenoble? C’est noté : dix-neuf heures vingt."), 'l agence de grenoble c est noté dix neuf heures vingt');
    assert.equal(normalizeFrench('Très bien, À BIENTÔT !'), 'très bien à bientôt');
    assert.equal(normalizeFrench('Le total fait 42 euros [musique]'), 'le total fait 42 euros');
  });

  it('English: contractions expanded, British spellings, punctuation removed', () => {
    assert.equal(normalizeEnglish("I can't make it, it's the Centre colour!"), 'i can not make it it is the center color');
    assert.equal(normalizeEnglish("We'll call you back — thank-you."), 'we will call you back thank you');
  });
});

describe('word error rate', () => {
  it('counts substitutions, deletions and insertions on normalised words', () => {
    assert.equal(wordErrors(['a', 'b', 'c'], ['a', 'x', 'c', 'd']), 2);
    const c = werCounts("Bonjour, c'est Sylvie.", 'bonjour c est sylvain', 'fr');
    assert.deepEqual(c, { errors: 1, words: 4 });
    assert.equal(werPercent([c, { errors: 0, words: 4 }]), 12.5);
  });

  it('lag summary uses the nearest-rank 90th percentile', () => {
    assert.equal(percentile([5, 1, 4, 2, 3, 6, 7, 8, 9, 10], 90), 9);
    assert.deepEqual(summarizeLags([1, 3]), { words: 2, meanLag: 2, p90Lag: 3 });
  });
});

describe('emission lag against the audio, per sentence', () => {
  it('aligns words with the fewest edits: hits, substitutions, deletions, insertions', () => {
    assert.deepEqual(alignWords(['a', 'b', 'c', 'd', 'e', 'f'], ['a', 'x', 'c', 'e', 'f', 'g']), [
      { ref: 0, hyp: 0 },
      { ref: 1, hyp: 1 },
      { ref: 2, hyp: 2 },
      { ref: 3, hyp: -1 },
      { ref: 4, hyp: 3 },
      { ref: 5, hyp: 4 },
      { ref: -1, hyp: 5 },
    ]);
    assert.deepEqual(alignWords([], ['a']), [{ ref: -1, hyp: 0 }]);
    assert.deepEqual(alignWords(['a'], []), [{ ref: 0, hyp: -1 }]);
  });

  it('a word cut across updates is emitted with its last piece; words are those the WER normaliser counts', () => {
    const pieces = [
      { text: ' Mon code', at: 1.1 },
      { text: ' postal est ne', at: 2.0 },
      { text: 'uf quatre-ving', at: 2.5 },
      { text: "t. L'agence", at: 3.25 },
    ];
    assert.deepEqual(
      emittedWords(pieces, 'fr').map((w) => [w.word, w.at]),
      [['mon', 1.1], ['code', 1.1], ['postal', 2.0], ['est', 2.0], ['neuf', 2.5], ['quatre', 2.5], ['vingt', 3.25], ['l', 3.25], ['agence', 3.25]],
    );
  });

  it("each sentence's lag: the emission of the last word aligned to it minus its end", () => {
    const segments = [
      { start: 0.5, end: 1.5, text: 'Oui, merci.' },
      { start: 2.0, end: 3.0, text: 'Quinze dix-sept.' },
      { start: 3.5, end: 4.0, text: 'Non.' },
    ];
    // "merci" heard as "mercredi" (a substitution: still sentence 1), an inserted "bien" (no sentence),
    // "non" never emitted
    const words = emittedWords(
      [
        { text: ' Oui,', at: 1.2 },
        { text: ' mercredi bien', at: 2.4 },
        { text: ' quinze dix-', at: 3.6 },
        { text: 'sept.', at: 4.8 },
      ],
      'fr',
    );
    const lags = sentenceLags(segments, words, 'fr');
    assert.deepEqual(lags.map((l) => l.emitted), [2.4, 4.8, null]);
    assert.ok(Math.abs(lags[0]!.lag! - 0.9) < 1e-9 && Math.abs(lags[1]!.lag! - 1.8) < 1e-9 && lags[2]!.lag === null);
    const s = summarizeSentenceLags(lags);
    assert.deepEqual([s.sentences, s.missed, s.p50, s.p90], [3, 1, lags[0]!.lag, lags[1]!.lag]);
    assert.ok(Math.abs(s.mean - 1.35) < 1e-9);
  });

  it('attribution is causal: a word emitted before a sentence starts never counts for it', () => {
    const segments = [
      { start: 0, end: 1, text: 'six six' },
      { start: 5, end: 6, text: 'six huit' },
    ];
    // a loop of "six" emitted at 1.5 s: by edit distance alone its last copies would pair with
    // the second sentence (lag 1.5 - 6 = -4.5 s); that sentence is only heard from 5 s on
    const words = emittedWords([{ text: ' six six six six', at: 1.5 }, { text: ' huit', at: 6.5 }], 'fr');
    assert.ok(alignWords(['six', 'six', 'six', 'huit'], words.map((w) => w.word)).some((p) => p.ref === 2 && p.hyp >= 0 && p.hyp < 4), 'edit distance alone pairs the loop with sentence 2');
    assert.deepEqual(sentenceLags(segments, words, 'fr').map((l) => l.lag), [0.5, 0.5]);
  });

  it('the manifest gives the long files their sentences; malformed ones are refused', () => {
    const dir = tempDir();
    const f = path.join(dir, 'm.jsonl');
    fs.writeFileSync(f, `${JSON.stringify({ file: 'a.wav', text: 'Oui. Non.', language: 'fr', segments: [{ start: 0, end: 1, text: 'Oui.' }, { start: 1.5, end: 2, text: 'Non.' }] })}\n${JSON.stringify({ file: 'b.wav', text: 'x' })}\n`);
    const [a, b] = readManifest(f);
    assert.deepEqual(a!.segments, [{ start: 0, end: 1, text: 'Oui.' }, { start: 1.5, end: 2, text: 'Non.' }]);
    assert.equal(b!.segments, undefined);
    fs.writeFileSync(f, `${JSON.stringify({ file: 'a.wav', text: 'x', segments: [{ start: 2, end: 1, text: 'x' }] })}\n`);
    assert.throws(() => readManifest(f), { code: 'ERR_INVALID_OPTION', message: /m\.jsonl:1: "segments" must be/ });
  });
});

describe('telephone prompt manifest (asterisk-core-sounds)', () => {
  it('keeps spoken prompts whose audio exists, drops tones and comments', async () => {
    const { telephoneEntries } = await import('../bench/telephone-manifest.js');
    const { FIXTURES } = await import('./helpers/fixtures.js');
    const dir = (await import('node:path')).join(FIXTURES, 'telephone');
    const list = [
      '; Core Asterisk Sounds in French',
      '',
      'fr-agent-pass: Composez votre mot de passe suivi du dièse.',
      'ascending-2tone: [ascending tones]',
      'beeperr: (ahooga)',
      'fr-missing: Pas de fichier.',
      'fr-auth-thankyou: Merci.',
    ].join('\n');
    const { entries, skipped } = telephoneEntries(list, dir, 'fr');
    assert.deepEqual(
      entries.map((e) => [(e.audio.split('/').at(-1)), e.text, e.language]),
      [
        ['fr-agent-pass.wav', 'Composez votre mot de passe suivi du dièse.', 'fr'],
        ['fr-auth-thankyou.wav', 'Merci.', 'fr'],
      ],
    );
    assert.equal(skipped, 3);
  });
});
