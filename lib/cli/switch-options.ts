import { Option, type Command } from 'commander';
import type { ServerOptions } from '../server/server.js';
import { intArg } from './options.js';

/** `serve`'s flags for the switches' front doors: WebSockets (mod_audio_stream, mod_audio_fork, jambonz), AudioSocket, the transcript store. */
export function addSwitchOptions(cmd: Command): Command {
  return cmd
    .option('--ws-port <n>', 'take calls from the switch over WebSockets on this port of --host: /audio_stream (FreeSWITCH mod_audio_stream), /audio_fork (mod_audio_fork), /jambonz (jambonz custom speech-to-text); 0: any free port', intArg(0, 65535))
    .addOption(new Option('--ws-token <token>', 'with --ws-port: every call needs "Authorization: Bearer TOKEN" or ?token=TOKEN').env('SIMULSTREAM_WS_TOKEN'))
    .option('--audiosocket-port <n>', 'take calls from Asterisk\'s AudioSocket (TCP) on this port of --host (it has no token: firewall it)', intArg(0, 65535))
    .addOption(new Option('--audiosocket-0x11-rate <hz>', 'the rate of AudioSocket\'s message kind 0x11 (12000 since Asterisk PR 1492; one earlier revision sent 16000)').choices(['12000', '16000']).default('12000'))
    .option('--out-dir <dir>', 'store each streamed call\'s lines (WebSocket, AudioSocket) in DIR/<uuid>.jsonl, the bridge\'s transcript schema');
}

/** The options {@link addSwitchOptions} read, for `createServer`. */
export function switchOptions(o: Record<string, unknown>): Pick<ServerOptions, 'wsPort' | 'wsToken' | 'audioSocketPort' | 'audioSocketKind11Rate' | 'outDir'> {
  return {
    ...(o.wsPort !== undefined ? { wsPort: o.wsPort as number } : {}),
    ...(o.wsToken !== undefined ? { wsToken: o.wsToken as string } : {}),
    ...(o.audiosocketPort !== undefined ? { audioSocketPort: o.audiosocketPort as number } : {}),
    ...(o.audiosocket0x11Rate !== undefined ? { audioSocketKind11Rate: Number(o.audiosocket0x11Rate) as 12000 | 16000 } : {}),
    ...(o.outDir !== undefined ? { outDir: o.outDir as string } : {}),
  };
}
