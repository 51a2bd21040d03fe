import fs from 'node:fs';
import path from 'node:path';

/**
 * The path of an executable found in a `PATH`-style list of directories, or `undefined`. The
 * caller passes the list (`process.env.PATH` at the edge), so nothing deep reads the environment.
 */
export function findProgram(name: string, searchPath: string | undefined): string | undefined {
  if (name.includes(path.sep)) return isExecutable(name) ? name : undefined;
  for (const dir of (searchPath ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false; // absent or not executable: not this one
  }
}
