/** An open server-role stream over the test layer, with a raw client peer. */
import { WebSocketStream, createTestPair, type StreamOptions, type TestLayerOptions } from '../../src/index.js';
import { requestObject } from './frames.js';
import { RawPeer } from './peer.js';

export async function openServer(options: StreamOptions = {}, layer: TestLayerOptions = {}) {
  const [server, client] = createTestPair(layer);
  const ws = new WebSocketStream(server, options);
  const peer = new RawPeer(client);
  await ws.accept(requestObject());
  await peer.responseHead();
  return { ws, peer, server, client };
}
