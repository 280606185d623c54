/**
 * A peer that sends its close frame and resets the connection at once: our answer's write fails
 * (the socket's error is a write's), so our close frame never went and the close handshake did not
 * complete. That holds when nobody waits for the write (a close answer alone, `serve`'s echo written
 * with no callback): the socket's 'error' is then the only report of the failed write.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { WebSocketStream, type CloseInfo } from '../../src/index.js';
import { echo, serve } from '../../src/cli/serve.js';
import { closeFrame, requestHead, text } from '../support/frames.js';
import { RawPeer } from '../support/peer.js';

/** How one connection ended, and the syscall of the server socket's error (undefined: none). */
interface Ending {
  info: CloseInfo;
  syscall: string | undefined;
}

/**
 * A raw client opens a WebSocket on `port`, sends `bytes` and resets the connection in the same
 * turn: the server reads them only on a later turn, by when (on loopback) the reset has come, so
 * the first write of its answer fails. `opened` gives the server side's stream and socket once open.
 */
async function sendAndReset(
  port: number,
  opened: Promise<{ ws: WebSocketStream; socket: net.Socket }>,
  bytes: Buffer,
): Promise<Ending> {
  const client = net.connect(port, '127.0.0.1');
  const peer = new RawPeer(client);
  peer.send(requestHead());
  const [{ ws, socket }] = await Promise.all([opened, peer.responseHead()]);
  let syscall: string | undefined;
  socket.on('error', (err: NodeJS.ErrnoException) => {
    syscall ??= err.syscall;
  });
  client.write(bytes);
  client.resetAndDestroy();
  await once(client, 'close');
  return { info: await ws.whenClosed(), syscall };
}

/**
 * Runs `attempt` until the server's answer met the reset on its write (a loaded machine may have the
 * reset arrive after the server read and answered: then the answer went, and nothing is checked).
 */
async function whenTheAnswerFails(attempt: () => Promise<Ending>): Promise<CloseInfo> {
  const syscalls: (string | undefined)[] = [];
  for (let i = 0; i < 5; i++) {
    const { info, syscall } = await attempt();
    if (syscall === 'write') return info;
    syscalls.push(syscall);
  }
  assert.fail(`no answer's write failed in 5 tries (errors: ${syscalls.join(', ')})`);
}

it("a stream's answer to a close whose write fails on the peer's reset: not clean, the write's error", async () => {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const port = (server.address() as net.AddressInfo).port;
    const info = await whenTheAnswerFails(() => {
      const opened = once(server, 'connection').then(async ([socket]: net.Socket[]) => {
        const ws = new WebSocketStream(socket!);
        await ws.accept();
        return { ws, socket: socket! };
      });
      return sendAndReset(port, opened, closeFrame(1000));
    });
    assert.equal(info.initiatedBy, 'remote');
    assert.equal(info.wasClean, false);
    assert.equal(info.error?.code, 'ERR_WS_NEXT_LAYER');
    assert.match(info.error.message, /write/);
  } finally {
    server.close();
  }
});

it("serve's echo: a message and a close answered in one write that fails on the peer's reset: not clean, the write's error", async () => {
  let onOpen!: (ws: WebSocketStream) => void;
  const running = await serve({
    host: '127.0.0.1',
    port: 0,
    quiet: true,
    onOpen: (ws) => {
      echo(ws); // serve's own echo: it writes with no callback
      onOpen(ws);
    },
  });
  try {
    const port = (running.server.address() as net.AddressInfo).port;
    const info = await whenTheAnswerFails(() => {
      const socket = once(running.server, 'upgrade').then(([, s]: unknown[]) => s as net.Socket);
      const ws = new Promise<WebSocketStream>((resolve) => {
        onOpen = resolve;
      });
      const opened = Promise.all([ws, socket]).then(([w, s]) => ({ ws: w, socket: s }));
      return sendAndReset(port, opened, Buffer.concat([text('one'), closeFrame(1000)]));
    });
    assert.equal(info.initiatedBy, 'remote');
    assert.equal(info.wasClean, false);
    assert.equal(info.error?.code, 'ERR_WS_NEXT_LAYER');
    assert.match(info.error.message, /write/);
  } finally {
    await running.shutdown();
  }
});
