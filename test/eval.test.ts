import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { percentile, summarizeLags } from '../lib/eval/lag.js';
import { normalizeEnglish, normalizeFrench } from '../lib/eval/normalize.js';
import { werCounts, werPercent, wordErrors } from '../lib/eval/wer.js';

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
