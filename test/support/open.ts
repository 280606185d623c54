/** Open server-role streams with a raw client peer: over the test layer, or over TCP. */
import assert from 'node:assert/strict';
import net from 'node:net';
import { WebSocketStream, createTestPair, type StreamOptions, type TestLayerOptions } from '../../src/index.js';
import { queuePreparedFrame } from '../../src/stream/prepared.js';
import { requestHead, requestObject } from './frames.js';
import { RawPeer } from './peer.js';

/** An open server-role stream over the test layer, with a raw client peer. */
export async function openServer(options: StreamOptions = {}, layer: TestLayerOptions = {}) {
  const [server, client] = createTestPair(layer);
  const ws = new WebSocketStream(server, options);
  const peer = new RawPeer(client);
  await ws.accept(requestObject());
  await peer.responseHead();
  return { ws, peer, server, client };
}

/**
 * A server stream over a TCP connection on 127.0.0.1, opened by a raw client peer with `request`;
 * with `t`, both ends are destroyed after the test.
 */
export async function openServerOverTcp(
  options: StreamOptions = {},
  request: string = requestHead(),
  t?: { after(fn: () => unknown): void },
): Promise<{ ws: WebSocketStream; socket: net.Socket; peer: RawPeer }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const socket = await accepted;
  server.close();
  t?.after(() => {
    client.destroy();
    socket.destroy();
  });
  const peer = new RawPeer(client);
  const ws = new WebSocketStream(socket, options);
  const opened = ws.accept();
  peer.send(request);
  await opened;
  await peer.responseHead();
  return { ws, socket, peer };
}

/** The turn's flush has run (a stream's flush is scheduled on the next tick). */
export const flushed = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Queues the prepared frame `filler` to `ws` until its socket holds bytes the kernel would not take (the peer has
 * stopped reading); resolves with how many fillers that took.
 */
export async function backUpWithPreparedFrames(
  ws: WebSocketStream,
  socket: net.Socket,
  filler: Buffer,
): Promise<number> {
  let fillers = 0;
  while (socket.writableLength === 0) {
    assert.ok(fillers < 256, 'the socket backed up');
    assert.equal(queuePreparedFrame(ws, filler), true);
    fillers++;
    await flushed();
  }
  return fillers;
}
