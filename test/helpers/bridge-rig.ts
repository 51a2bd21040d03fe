import path from 'node:path';
import { after, before } from 'node:test';
import { loadModel, type LoadedModel } from '../../lib/model/load-model.js';
import { createServer, type ServerOptions, type SimulstreamServer } from '../../lib/server/server.js';
import { FakeFreeswitch } from './fake-freeswitch.js';
import { TOY, testCacheDir } from './fixtures.js';

/** What a bridge test talks to: the toy model, a recognizer server on it, and a fake FreeSWITCH. */
export interface BridgeRig {
  readonly lm: LoadedModel;
  readonly asr: SimulstreamServer;
  /** The recognizer server's TCP port on 127.0.0.1. */
  readonly asrPort: number;
  readonly fs: FakeFreeswitch;
}

/**
 * Starts a {@link BridgeRig} before the enclosing `describe`'s tests and stops it after them
 * (FreeSWITCH, then the server, then the model). Its fields are there once the tests run.
 */
export function useBridgeRig(serverOptions: Omit<ServerOptions, 'model' | 'host' | 'port'>): BridgeRig {
  const rig = {} as { -readonly [K in keyof BridgeRig]: BridgeRig[K] };
  before(async () => {
    rig.lm = await loadModel({ modelPath: path.join(TOY, 'ggml-toy.bin'), cacheDir: testCacheDir() });
    rig.asr = createServer({ model: rig.lm, host: '127.0.0.1', port: 0, ...serverOptions });
    rig.asrPort = (await rig.asr.listen()).port;
    rig.fs = new FakeFreeswitch();
    await rig.fs.start();
  });
  after(async () => {
    await rig.fs.stop();
    await rig.asr.close();
    await rig.lm.release();
  });
  return rig;
}
