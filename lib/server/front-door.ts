import type net from 'node:net';
import { SimulstreamError } from '../errors.js';
import type { Logger } from './logger.js';

/** One way in to the server (SimulStreaming's TCP, the switch's WebSockets, AudioSocket): its listener and its sockets. */
export interface FrontDoor {
  /** Starts listening; resolves with the bound address. */
  listen(): Promise<net.AddressInfo>;
  /** Stops accepting; resolves once the listener is closed (open streams go on). */
  stop(): Promise<void>;
  /** Destroys the sockets still open (after every stream was finished). */
  destroySockets(): void;
}

/** Where a front door listens and how its flag is spelled in error messages. */
export interface DoorAddress {
  readonly host: string;
  readonly port: number;
  /** `--port`, `--ws-port`, … */
  readonly flag: string;
  /** How the log line names it: `Listening on` (TCP, SimulStreaming's line), `WebSocket calls on`, … */
  readonly label: string;
}

/**
 * `server.listen(port, host)` as a promise: `ERR_ADDRESS_IN_USE` or `ERR_LISTEN` when it cannot;
 * once listening, later server errors (out of file descriptors while accepting) are logged and
 * the server goes on.
 */
export function listenOn(server: net.Server, at: DoorAddress, log: Logger): Promise<net.AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      if (err.code === 'EADDRINUSE') {
        reject(new SimulstreamError('ERR_ADDRESS_IN_USE', `Address already in use: ${at.host}:${at.port} (another server is listening there; choose another with ${at.flag})`));
      } else reject(new SimulstreamError('ERR_LISTEN', `cannot listen on ${at.host}:${at.port}: ${err.message}`, { cause: err }));
    };
    const onListening = (): void => {
      server.off('error', onError);
      server.on('error', (err) => log.error(`server: ${err.message}`));
      const a = server.address() as net.AddressInfo;
      log.info(`${at.label} ${at.host}:${a.port}`);
      resolve(a);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(at.port, at.host);
  });
}

/** Closes a listener; resolves once it is closed (at once if it never listened). */
export function stopListening(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}
