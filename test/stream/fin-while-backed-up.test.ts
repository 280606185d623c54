/**
 * The peer ends its side (FIN) after the close handshake while our last message and our close frame
 * are still backed up in the socket (the peer has not read them yet): the socket is released only
 * once our own end is finished, so the peer still gets both. (The next layer keeps "our end() was
 * called" and "our end is finished" as two bits of one field: were they one, that FIN would destroy
 * the socket with our bytes still in it.)
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { WebSocketStream } from '../../src/index.js';
import { closeFrame, parseFrames, requestHead } from '../support/frames.js';

it('a FIN after the close handshake, with our message and close frame still backed up: the peer gets both, then the end', async () => {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const [socket] = await accepted;
  server.close();
  try {
    // More than the kernel holds for a peer that does not read, and within what the stream lets wait.
    const big = Buffer.alloc(24 * 1024 * 1024, 0x61);
    const ws = new WebSocketStream(socket, { maxBufferedBytes: 64 * 1024 * 1024 });
    const opened = ws.accept();
    client.write(requestHead());
    await opened;
    // The client keeps what it gets, and reads nothing more until told.
    const got: Buffer[] = [];
    client.on('data', (d: Buffer) => got.push(d));
    client.pause();

    const written = ws.write(big).then(
      () => null,
      (e: Error) => e,
    );
    // The server's end() (after both close frames: a server ends first).
    const serverEnded = new Promise<void>((resolve) => {
      const end = socket.end;
      socket.end = function (this: net.Socket, ...args: unknown[]) {
        resolve();
        return (end as (...a: unknown[]) => net.Socket).apply(this, args);
      } as typeof socket.end;
    });
    client.write(closeFrame(1000));
    await serverEnded;
    // This listener comes after the stream's: it runs once the stream has handled the FIN.
    const finHandled = once(socket, 'end');
    client.end();
    await finHandled;
    assert.ok(socket.writableLength > 0, 'our bytes are still backed up when the FIN is handled');

    client.resume();
    await once(client, 'close');
    const all = Buffer.concat(got);
    const { frames } = parseFrames(all.subarray(all.indexOf('\r\n\r\n') + 4));
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.payload.length]),
      [
        [2, big.length],
        [8, 2],
      ],
    );
    assert.equal(frames[1]!.payload.readUInt16BE(0), 1000);
    assert.equal(await written, null);
    assert.equal(ws.closeInfo?.wasClean, true);
  } finally {
    client.destroy();
    socket.destroy();
  }
});
