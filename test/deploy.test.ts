// deploy/'s systemd units: what they run exists, secrets stay off the command line, a
// configuration error is not restarted forever.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from './helpers/cli.js';
import { ROOT } from './helpers/fixtures.js';

/** A unit file's `Key=value` lines (continuations joined), each key's values in order. */
function unit(name: string): Map<string, string[]> {
  const text = fs.readFileSync(path.join(ROOT, 'deploy', name), 'utf8').replace(/\\\n\s*/gu, ' ');
  const keys = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/u.exec(line.trim());
    if (m) keys.set(m[1]!, [...(keys.get(m[1]!) ?? []), m[2]!]);
  }
  return keys;
}

describe('deploy/ systemd units', () => {
  for (const [file, command] of [['simulstream-serve@.service', 'serve'], ['simulstream-bridge.service', 'bridge']] as const) {
    it(`${file}: every flag of ExecStart exists; exit code 2 is not restarted; a note on PrivateDevices`, async () => {
      const u = unit(file);
      const exec = u.get('ExecStart')![0]!;
      assert.match(exec, new RegExp(`simulstream\\.js ${command} `, 'u'));
      const help = (await runCli([command, '--help'])).stdout;
      for (const flag of exec.match(/--[a-z][\w-]*/gu)!) assert.ok(help.includes(`${flag} `) || help.includes(`${flag},`), `${file}: ${flag} is not a ${command} flag`);
      assert.deepEqual(u.get('RestartPreventExitStatus'), ['2']);
      assert.deepEqual(u.get('Restart'), ['on-failure']);
      assert.match(fs.readFileSync(path.join(ROOT, 'deploy', file), 'utf8'), /PrivateDevices=yes hides \/dev\/nvidia\*|the bridge never needs a device/u);
      // every ${VAR} it uses has a default or comes from the environment file
      for (const v of exec.match(/\$\{(\w+)\}/gu) ?? []) assert.ok(u.get('Environment')!.some((e) => e.startsWith(`${v.slice(2, -1)}=`)), `${file}: ${v} has no default`);
    });
  }

  it('the bridge\'s ESL password comes from the environment, never its command line', async () => {
    const u = unit('simulstream-bridge.service');
    assert.doesNotMatch(u.get('ExecStart')![0]!, /password/iu);
    assert.ok(!u.get('Environment')!.some((e) => e.startsWith('SIMULSTREAM_ESL_PASSWORD=')), 'no password in the unit itself');
    assert.ok(u.get('EnvironmentFile')!.some((e) => e.includes('/etc/simulstream/bridge.env')));
    assert.match((await runCli(['bridge', '--help'])).stdout, /--esl-password <pw>[\s\S]*env: SIMULSTREAM_ESL_PASSWORD/u);
  });
});
