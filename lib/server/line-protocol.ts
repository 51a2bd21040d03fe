// The server's wire format lives with the one line encoder (lib/stream/line-encoder.ts).
export { encodeError, encodeSegment, type OutputFormat } from '../stream/line-encoder.js';
