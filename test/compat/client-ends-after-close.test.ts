/**
 * A client ends TCP as soon as the close frames are exchanged, as ws's client does (`socket.end()` once its close
 * frame is sent and the server's received), whoever closed first. A server that answers the close handshake and
 * then waits for the client's FIN (RFC 6455 §7.1.1 lets the client close it) got 'close' from ws at once, but from
 * ws-stream/ws only after `closeTimeout` (30 s by default), since the core's client waits for the server to end
 * first. Here `closeTimeout` is longer than the test's timeout, so a client that waits fails the test.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type net from 'node:net';
import { describe, it } from 'node:test';
import { closeFrame } from '../support/frames.js';
import { fakeServer, response101 } from '../support/hostile.js';
import { RawPeer } from '../support/peer.js';
import { impls } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Ws = any;

/** A server that never ends a connection before the client's FIN (then it ends too, as RawPeer does). */
async function waitingServer(t: Parameters<typeof fakeServer>[0], closesFirst: boolean) {
  const sawFin: Promise<void>[] = [];
  const { url } = await fakeServer(
    t,
    (socket: net.Socket, accept: string) => {
      sawFin.push(once(socket, 'end').then(() => undefined));
      socket.write(response101(accept));
      if (closesFirst) socket.write(closeFrame(1000, 'bye', { mask: false }));
      // The answer to the client's close (ws-stream/ws and ws answer ours themselves).
      const peer = new RawPeer(socket);
      if (!closesFirst) peer.waitFrames(1).then(() => socket.write(closeFrame(4000, 'ok', { mask: false })));
    },
    { allowHalfOpen: true },
  );
  return { url, sawFin };
}

for (const impl of impls) {
  describe(`${impl.name}: the client ends TCP once the close frames are exchanged`, { timeout: 60_000 }, () => {
    for (const closesFirst of [true, false]) {
      it(`the ${closesFirst ? 'server' : 'client'} closes first: the server sees the client's FIN, 'close' follows`, async (t) => {
        const { url, sawFin } = await waitingServer(t, closesFirst);
        const client: Ws = new impl.WebSocket(url, { closeTimeout: 600_000 });
        const closed = new Promise<[number, string]>((resolve) =>
          client.on('close', (code: number, reason: Buffer) => resolve([code, String(reason)])),
        );
        await once(client, 'open');
        if (!closesFirst) client.close(1000, 'done');
        assert.deepEqual(await closed, closesFirst ? [1000, 'bye'] : [4000, 'ok']);
        assert.equal(sawFin.length, 1);
        await sawFin[0];
      });
    }
  });
}
