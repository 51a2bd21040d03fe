// The pieces of a switch's call, each on its own: the resampler (against the sine it should give),
// the stereo split and AudioSocket's framing (split anywhere), the metadata's identity, the URL's
// format, and what jambonz calls an utterance.
import assert from 'node:assert/strict';
import { Readable, type Transform } from 'node:stream';
import { describe, it } from 'node:test';
import { isSupportedRate } from '../lib/audio/model-rate.js';
import { RationalResampler } from '../lib/audio/rational-resampler.js';
import { Deinterleaver } from '../lib/audio/stereo-split.js';
import { AudioSocketParser } from '../lib/server/audiosocket/audiosocket-parser.js';
import { identityFromMetadata, IdentityHolder, uuidFromBytes } from '../lib/server/calls/call-identity.js';
import type { Segment } from '../lib/stream/utf8-carry.js';
import { JambonzEncoder } from '../lib/server/ws/jambonz-encoder.js';
import { whisperLanguage } from '../lib/server/ws/jambonz.js';
import { formatFromQuery } from '../lib/server/ws/ws-door.js';
import { prng } from './helpers/clients.js';
import { audioSocketMessage } from './helpers/switch-clients.js';

async function run(stage: Transform, pieces: Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const b of Readable.from(pieces).pipe(stage)) out.push(b as Buffer);
  return Buffer.concat(out);
}

function sine(rate: number, hz: number, seconds: number, amplitude = 10000): Buffer {
  const n = Math.round(rate * seconds);
  const b = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) b.writeInt16LE(Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / rate)), 2 * i);
  return b;
}

const seg = (text: string, final = false): Segment => ({ startMs: 0, endMs: 1, text, words: [], final, emittedMs: 0, audioEndMs: 0 });

describe('a call\'s audio', () => {
  it('RationalResampler: every AudioSocket rate to 16 kHz gives the sine it should (within 0.1 %), ceil(n·16000/rate) samples, split-invariant', async () => {
    for (const rate of [12000, 24000, 32000, 44100, 48000, 96000, 192000]) {
      const x = sine(rate, 1000, 0.5);
      const whole = await run(new RationalResampler(rate), [x]);
      const rand = prng(rate);
      const pieces: Buffer[] = [];
      for (let i = 0; i < x.length; ) {
        const n = 1 + Math.floor(rand() * 2001);
        pieces.push(x.subarray(i, i + n));
        i += n;
      }
      assert.deepEqual(await run(new RationalResampler(rate), pieces), whole, `${rate}: split anywhere, the same bytes`);
      const samples = whole.length / 2;
      assert.equal(samples, Math.ceil(((x.length / 2) * 16000) / rate), `${rate}: length`);
      let worst = 0;
      for (let i = 40; i < samples - 40; i++) worst = Math.max(worst, Math.abs(whole.readInt16LE(2 * i) - 10000 * Math.sin((2 * Math.PI * 1000 * i) / 16000)));
      assert.ok(worst < 10, `${rate}: worst error ${worst} of 10000`);
    }
  });

  it('RationalResampler: a tone above 8 kHz is removed (no alias), a tone in the pass band is kept', async () => {
    const rms = (b: Buffer): number => {
      let s = 0;
      const n = b.length / 2;
      for (let i = 40; i < n - 40; i++) s += b.readInt16LE(2 * i) ** 2;
      return Math.sqrt(s / (n - 80));
    };
    const alias = await run(new RationalResampler(48000), [sine(48000, 12000, 0.5)]); // would fold to 4 kHz
    assert.ok(rms(alias) < 10000 / Math.SQRT2 / 1000, `12 kHz at 48 kHz: ${rms(alias)} RMS left (−60 dB is ${(10000 / Math.SQRT2 / 1000).toFixed(1)})`);
    const kept = await run(new RationalResampler(44100), [sine(44100, 3400, 0.5)]);
    assert.ok(Math.abs(rms(kept) - 10000 / Math.SQRT2) < 0.01 * 10000, `3.4 kHz at 44.1 kHz keeps its level: ${rms(kept)}`);
    assert.equal(isSupportedRate(7999), false);
    assert.equal(isSupportedRate(11025), true);
    assert.throws(() => new RationalResampler(16000.5), { code: 'ERR_INTERNAL' });
  });

  it('Deinterleaver: cut inside a sample or a frame, the channels never swap or slip', () => {
    const frames = 1000;
    const st = Buffer.alloc(frames * 4);
    for (let i = 0; i < frames; i++) {
      st.writeInt16LE(i, 4 * i);
      st.writeInt16LE(-i - 1, 4 * i + 2);
    }
    const d = new Deinterleaver();
    const left: Buffer[] = [];
    const right: Buffer[] = [];
    for (let i = 0, k = 0; i < st.length; k++) {
      const n = [1, 3, 5, 2, 7, 4][k % 6]!;
      const [l, r] = d.push(st.subarray(i, i + n));
      left.push(l);
      right.push(r);
      i += n;
    }
    assert.equal(d.pending, 0);
    const L = Buffer.concat(left);
    const R = Buffer.concat(right);
    for (let i = 0; i < frames; i++) assert.deepEqual([L.readInt16LE(2 * i), R.readInt16LE(2 * i)], [i, -i - 1]);
    d.push(Buffer.from([1, 2, 3]));
    assert.equal(d.pending, 3);
  });

  it('AudioSocketParser: messages split anywhere come out whole; a message cut by the end is named', () => {
    const wire = Buffer.concat([audioSocketMessage(0x01, Buffer.alloc(16, 0xab)), audioSocketMessage(0x10, Buffer.alloc(320, 7)), audioSocketMessage(0x03, Buffer.from('#')), audioSocketMessage(0x00)]);
    for (const piece of [1, 2, 3, 17, wire.length]) {
      const p = new AudioSocketParser();
      const got = [];
      for (let i = 0; i < wire.length; i += piece) got.push(...p.push(wire.subarray(i, i + piece)));
      assert.deepEqual(got.map((m) => [m.kind, m.payload.length]), [[0x01, 16], [0x10, 320], [0x03, 1], [0x00, 0]], `pieces of ${piece}`);
      assert.equal(p.end(), null);
    }
    const p = new AudioSocketParser();
    p.push(Buffer.from([0x10, 0x01]));
    assert.equal(p.end(), 'the stream ended inside a message header (2 of 3 bytes)');
    assert.equal(uuidFromBytes(Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex')), '00010203-0405-0607-0809-0a0b0c0d0e0f');
    assert.equal(uuidFromBytes(Buffer.alloc(15)), null);
  });

  it('the metadata\'s identity: ours or FreeSWITCH\'s spellings; fixed at the first uuid, at the first line, or at the end', () => {
    assert.deepEqual(identityFromMetadata('{"uuid":"u1","caller":"0611","callee":3001}'), { uuid: 'u1', caller: '0611', callee: '3001' });
    assert.deepEqual(identityFromMetadata('{"Unique-ID":"u2","Caller-Caller-ID-Number":"+33","Caller-Destination-Number":"9"}'), { uuid: 'u2', caller: '+33', callee: '9' });
    assert.deepEqual(identityFromMetadata(JSON.stringify({ uuid: 'x'.repeat(1000) })), { uuid: 'x'.repeat(256) });
    for (const t of ['not json', '[1]', 'null', '"s"']) assert.equal(identityFromMetadata(t), null, t);
    const fixed: string[] = [];
    const h = new IdentityHolder('audio_fork', (id) => fixed.push(id.uuid));
    assert.equal(h.offer({ caller: '0611' }), true);
    assert.equal(h.isFixed, false);
    assert.equal(h.offer({ uuid: 'call-9' }), true);
    assert.deepEqual(fixed, ['call-9']);
    assert.equal(h.offer({ uuid: 'other' }), false);
    assert.deepEqual(h.get(), { uuid: 'call-9', caller: '0611', callee: '' });
    const g = new IdentityHolder('jambonz', () => {});
    assert.match(g.get().uuid, /^jambonz-[0-9a-f-]{36}$/u);
  });

  it('a mod_audio_stream / mod_audio_fork URL: ?rate= (8000, 16000, 8k, 16k, other rates in Hz) and ?mix=, defaults 16000 mono', () => {
    const q = (s: string): unknown => formatFromQuery(new URLSearchParams(s));
    assert.deepEqual(q(''), { rate: 16000, layout: 'mono' });
    assert.deepEqual(q('rate=8000&mix=stereo'), { rate: 8000, layout: 'stereo' });
    assert.deepEqual(q('rate=8k&mix=mixed'), { rate: 8000, layout: 'mixed' });
    assert.deepEqual(q('rate=16k'), { rate: 16000, layout: 'mono' });
    assert.deepEqual(q('rate=24000'), { rate: 24000, layout: 'mono' });
    assert.match(String(q('rate=fast')), /^rate must be/u);
    assert.match(String(q('mix=quad')), /^mix must be/u);
    assert.equal(whisperLanguage('fr-FR'), 'fr');
    assert.equal(whisperLanguage('EN_us'), 'en');
  });

  it('jambonz\'s utterance: with --vac each end of speech is a final with that utterance\'s words; without, everything since the last final; stop gives a final once', async () => {
    const messages = async (segs: Segment[], interim: boolean): Promise<{ is_final: boolean; transcript: string }[]> => {
      const enc = new JambonzEncoder({ channel: 2, language: 'fr-FR', interim });
      const out: string[] = [];
      for await (const m of Readable.from(segs).pipe(enc)) out.push(m as string);
      return out.map((m) => {
        const o = JSON.parse(m) as { is_final: boolean; alternatives: { transcript: string }[]; channel: number; language: string; type: string };
        assert.deepEqual([o.type, o.channel, o.language], ['transcription', 2, 'fr-FR']);
        return { is_final: o.is_final, transcript: o.alternatives[0]!.transcript };
      });
    };
    // --vac: two utterances, the second ending on a text-less marker; then stop
    assert.deepEqual(await messages([seg(' Bonjour'), seg(' monsieur', true), seg(' mon code'), seg(' est neuf'), seg('', true)], true), [
      { is_final: false, transcript: 'Bonjour' },
      { is_final: true, transcript: 'Bonjour monsieur' },
      { is_final: false, transcript: 'mon code' },
      { is_final: false, transcript: 'mon code est neuf' },
      { is_final: true, transcript: 'mon code est neuf' },
    ]);
    // no --vac: the final pass at stop ends the only utterance
    assert.deepEqual(await messages([seg(' un'), seg(' deux'), seg(' trois', true)], false), [{ is_final: true, transcript: 'un deux trois' }]);
    // no final pass text at all (silence): stop still answers, once
    assert.deepEqual(await messages([], true), [{ is_final: true, transcript: '' }]);
    // words after the last final, and no final pass: they are the final at stop
    assert.deepEqual(await messages([seg(' oui', true), seg(' non')], false), [{ is_final: true, transcript: 'oui' }, { is_final: true, transcript: 'non' }]);
  });
});
