import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { main } from '../../lib/cli/main.js';
import { ROOT, TOY, testCacheDir } from './fixtures.js';
import { until } from './wait.js';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The bundled toy model's flags (its alignment heads are the default for its shape). */
export function toyModelArgs(): string[] {
  return ['--model_path', path.join(TOY, 'ggml-toy.bin'), '--models-dir', testCacheDir()];
}

/** Runs `simulstream ARGS` in this process, as the binary does (main's exit code, its one-line errors). */
export async function runCli(args: readonly string[], opts: { stdin?: Buffer | Readable; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const out = new PassThrough();
  const err = new PassThrough();
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  out.on('data', (d: Buffer) => stdout.push(d));
  err.on('data', (d: Buffer) => stderr.push(d));
  const stdin = opts.stdin === undefined ? undefined : Buffer.isBuffer(opts.stdin) ? Readable.from([opts.stdin]) : opts.stdin;
  const code = await main(['node', 'simulstream', ...args], { stdout: out, stderr: err, ...(stdin ? { stdin } : {}), ...(opts.env ? { env: opts.env } : {}) });
  return { code, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') };
}

/** Runs `bin/simulstream.js ARGS` as a child process through `bash -c` (for pipes such as `| head -1`). */
export function runShell(script: string, env: NodeJS.ProcessEnv = process.env): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { cwd: ROOT, env: { ...env, SIMULSTREAM: `${process.execPath} ${path.join(ROOT, 'bin', 'simulstream.js')}` } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/**
 * Everything a stream writes, kept as it arrives; `until(re)` resolves once the text so far matches
 * (an event, not a poll), rejects when the stream ends first.
 */
export function watchOutput(stream: NodeJS.ReadableStream): { text: () => string; until: (re: RegExp, what: string) => Promise<string> } {
  let text = '';
  let ended = false;
  const waiting = new Set<() => void>();
  stream.on('data', (d: Buffer) => {
    text += d.toString();
    for (const w of [...waiting]) w();
  });
  stream.once('end', () => {
    ended = true;
    for (const w of [...waiting]) w();
  });
  return {
    text: () => text,
    until: (re, what) =>
      new Promise<string>((resolve, reject) => {
        const check = (): void => {
          if (re.test(text)) {
            waiting.delete(check);
            resolve(text);
          } else if (ended) {
            waiting.delete(check);
            reject(new Error(`the output ended before ${what}:\n${text}`));
          }
        };
        waiting.add(check);
        check();
      }),
  };
}

/** A child process of Node, its stderr watched as it arrives, its exit code awaited. */
export interface NodeChild {
  readonly child: ChildProcess;
  /** Its stderr (the CLI's log). */
  readonly log: ReturnType<typeof watchOutput>;
  /** Its exit code (null when a signal ended it). */
  readonly exited: Promise<number | null>;
}

/** Runs `node ARGS` (e.g. `bin/simulstream.js serve …`) as a child: stdin and stdout ignored unless `options` say otherwise. */
export function nodeChild(args: readonly string[], options: SpawnOptions = {}): NodeChild {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], ...options });
  const log = watchOutput(child.stderr!);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, log, exited };
}

/** Resolves once `http://127.0.0.1:PORT/readyz` answers 200 (a server that is up and ready). */
export function untilReady(port: number): Promise<void> {
  return until(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200, `readiness of port ${port}`);
}
