// The library on any audio file: WAV is read by simulstream itself, MP3, FLAC, Ogg, M4A and WebM
// through ffmpeg when it is installed; one pipeline from the file to the lines, so the first
// failure anywhere ends it (and rejects here).
//
//   node examples/library-file.mjs MODEL call.wav [language] [alignment heads]
import { pipeline } from 'node:stream/promises';
import { loadModel, openAudio, transcriber } from 'simulstream';

const [modelPath, file, language = 'en', alignmentHeads] = process.argv.slice(2);
const audio = await openAudio(file, { ffmpeg: 'ffmpeg' }); // a stream of s16le 16 kHz mono bytes
const model = await loadModel({ modelPath, ...(alignmentHeads ? { alignmentHeads } : {}) });
try {
  // objectMode: true yields { startMs, endMs, text, words, final, emittedMs, audioEndMs } instead of lines
  await pipeline(audio.stream, transcriber({ model, language, minChunkSize: 0.5 }), process.stdout, { end: false });
} finally {
  await model.release();
}
