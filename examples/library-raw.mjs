// The library on raw PCM (s16le, 16 kHz, mono: a FreeSWITCH .raw recording, SimulStreaming's wire
// format): bytes in, "start_ms end_ms text" lines out, printed as they are decoded.
//
//   node examples/library-raw.mjs MODEL call.raw [language] [alignment heads]
//   node examples/library-raw.mjs ./small.pt call.raw fr
import fs from 'node:fs';
import { loadModel, transcriber } from 'simulstream';

const [modelPath, file, language = 'en', alignmentHeads] = process.argv.slice(2);
const model = await loadModel({ modelPath, ...(alignmentHeads ? { alignmentHeads } : {}) }); // once; shared by every stream

const lines = fs.createReadStream(file).pipe(transcriber({ model, language, minChunkSize: 0.5 }));
lines.pipe(process.stdout);
lines.on('end', () => model.release());
