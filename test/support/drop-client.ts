/**
 * A raw client that offers permessage-deflate, sends compressed messages once the 101 is in, and
 * drops the connection (no close frame) as soon as they are handed to the operating system: the
 * server sees the end while it is still inflating them (zlib is asynchronous).
 */
import { once } from 'node:events';
import net from 'node:net';
import zlib from 'node:zlib';
import { frame, type RawFrame, requestHead } from './frames.js';

/**
 * A compressed text frame (RFC 7692 §7.2.1: deflated, the trailing 00 00 ff ff taken off), masked
 * unless `o` says otherwise (a server's frame: `{ mask: false }`).
 */
export function compressedText(payload: string | Uint8Array, o: Partial<RawFrame> = {}): Buffer {
  const d = zlib.deflateRawSync(payload, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return frame({ opcode: 1, payload: d.subarray(0, d.length - 4), rsv: 4, ...o });
}

/** Messages that inflate for a while: `count` texts of `size` characters, different from each other. */
export function bulkyTexts(count: number, size: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    let s = `${i}:`;
    let x = i * 7919 + 1;
    while (s.length < size) {
      x = (x * 1103515245 + 12345) >>> 0; // a fixed generator: poorly compressible, the same each run
      s += (x >>> 8).toString(36);
    }
    return s.slice(0, size);
  });
}

/** Connects to `port`, sends `messages` compressed, then destroys the socket; resolves once it is gone. */
export async function sendAndDrop(port: number, messages: string[]): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write(requestHead({ Host: `127.0.0.1:${port}`, 'Sec-WebSocket-Extensions': 'permessage-deflate' }));
  let head = Buffer.alloc(0);
  while (!head.includes('\r\n\r\n')) head = Buffer.concat([head, (await once(socket, 'data'))[0] as Buffer]);
  if (!head.toString('latin1').startsWith('HTTP/1.1 101') || !/permessage-deflate/i.test(head.toString('latin1'))) {
    socket.destroy();
    throw new Error(`the server did not agree to permessage-deflate: ${head.toString('latin1')}`);
  }
  socket.write(Buffer.concat(messages.map((m) => compressedText(m))), () => socket.destroy());
  await once(socket, 'close');
}
