/** One sample of a Prometheus text exposition: `name{a="b"} value`, labels given as an object. */
export function metric(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return Number.NaN;
}

export async function scrape(port: number, pathname = '/metrics'): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${port}${pathname}`);
  if (r.status !== 200) throw new Error(`GET ${pathname}: ${r.status}`);
  return r.text();
}
