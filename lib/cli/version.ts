import fs from 'node:fs';

/** simulstream's version, from package.json (two levels above dist/lib/cli or lib/cli). */
export function packageVersion(): string {
  for (const rel of ['../../../package.json', '../../package.json']) {
    const url = new URL(rel, import.meta.url);
    if (!fs.existsSync(url)) continue;
    const pkg = JSON.parse(fs.readFileSync(url, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'simulstream' && pkg.version) return pkg.version;
  }
  return 'unknown';
}
