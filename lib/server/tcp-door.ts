import net from 'node:net';
import { errorInfo } from '../errors.js';
import { encodeError } from '../stream/line-encoder.js';
import { serveConnection, type ConnectionContext } from './connection.js';
import { listenOn, stopListening, type DoorAddress, type FrontDoor } from './front-door.js';
import type { RefusalReason, StreamRegistry } from './stream-registry.js';

/** Seconds a refused client may keep its side open. */
const REFUSED_LINGER_MS = 2000;

/**
 * SimulStreaming's TCP protocol: each connection is its own pipeline ({@link serveConnection});
 * a client past the registry's capacity is told so (a JSON client gets `ERR_SERVER_BUSY`) and let go.
 */
export function tcpDoor(at: DoorAddress, ctx: ConnectionContext, registry: StreamRegistry): FrontDoor {
  const { log } = ctx;
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', (err) => log.debug(`Client socket: ${err.message}`));
    const peer = `('${socket.remoteAddress}', ${socket.remotePort})`;
    const place = registry.reserve(peer, 'tcp');
    if (typeof place === 'string') return refuse(socket, place);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    try {
      place.attach(serveConnection(socket, peer, ctx));
    } catch (err) {
      // a failure while setting a connection up (its model, its transcriber) is that connection's alone
      place.release();
      log.error(`Client ${peer}: ${errorInfo(err).message}`);
      socket.destroy();
    }
  });

  function refuse(socket: net.Socket, reason: RefusalReason): void {
    const why = reason === 'closing' ? 'the server is shutting down' : `the server is at its limit of ${registry.maxConnections} connections`;
    socket.resume(); // read and drop what it sends, so that closing does not reset it
    if (ctx.format === 'json') socket.end(encodeError('ERR_SERVER_BUSY', `${why}; try again later`));
    else socket.end();
    setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref();
  }

  return {
    listen: () => listenOn(server, at, log),
    stop: () => stopListening(server),
    destroySockets: () => {
      for (const s of sockets) s.destroy();
    },
  };
}
