import fs from 'node:fs';
import type { ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';

/**
 * Headers on every response of the live page: no inline script or style, nothing from elsewhere,
 * no framing, no MIME sniffing, no token leaking in a Referer, nothing cached.
 */
export const SAFE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
};

/** The page's files (`lib/monitor/static/`, shipped as they are: no build step). */
export const STATIC_DIR = fileURLToPath(new URL('../../../lib/monitor/static/', import.meta.url));

const TYPES = { 'index.html': 'text/html; charset=utf-8', 'live.js': 'text/javascript; charset=utf-8', 'live.css': 'text/css; charset=utf-8' } as const;
export type AssetName = keyof typeof TYPES;

/** The page's HTML, script and style, read once. */
export class PageAssets {
  private readonly files: Record<AssetName, string>;

  constructor(dir = STATIC_DIR) {
    this.files = Object.fromEntries(Object.keys(TYPES).map((n) => [n, fs.readFileSync(`${dir}/${n}`, 'utf8')])) as Record<AssetName, string>;
  }

  text(name: AssetName): string {
    return this.files[name];
  }

  /**
   * Sends one file. The HTML gets `?token=…` on its script and style links when the page itself
   * was opened with `?token=…` (a browser sends no Authorization header for them).
   */
  send(res: ServerResponse, name: AssetName, token: string | null, head = false): void {
    let body = this.files[name];
    if (name === 'index.html') body = body.replaceAll('{{query}}', token ? escapeAttribute(`?token=${encodeURIComponent(token)}`) : '');
    res.writeHead(200, { ...SAFE_HEADERS, 'content-type': TYPES[name], 'content-length': Buffer.byteLength(body) });
    res.end(head ? undefined : body);
  }
}

function escapeAttribute(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
