/**
 * `skipUTF8Validation` (server and client): text messages and close reasons that are not UTF-8 are
 * handed on as they came, as ws does; without it they fail the connection with 1007. Each case
 * runs on the real `ws` and on ws-stream/ws with the same expectations.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { closeFrame, KEY, text } from '../support/frames.js';
import { impls, listen, rawPeer } from './support.js';

const acceptKey = (key: string): string =>
  crypto.createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');

const BAD = Buffer.from([0x68, 0xc3, 0x28]); // 'h', then a lead byte without its continuation

function deflated(b: Buffer): Buffer {
  const out = zlib.deflateRawSync(b, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

const DEFLATE_REQUEST = (port: number): string =>
  `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n` +
  'Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n\r\n';

const cases = [
  { what: 'a text message', bytes: text(BAD), seen: 'message 68c328 false', deflate: false },
  {
    what: 'a compressed text message',
    bytes: text(deflated(BAD), { rsv: 4 }),
    seen: 'message 68c328 false',
    deflate: true,
  },
  { what: 'a close reason', bytes: closeFrame(1000, BAD), seen: 'close 1000 68c328', deflate: false },
];

for (const impl of impls) {
  describe(`${impl.name}: skipUTF8Validation`, () => {
    it('valid text is delivered as with validation', async (t) => {
      const { wss, port } = await listen(t, impl, { skipUTF8Validation: true });
      const got = new Promise<[string, boolean]>((resolve) => {
        // biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
        wss.on('connection', (sws: any) => sws.on('message', (d: Buffer, b: boolean) => resolve([d.toString(), b])));
      });
      const peer = await rawPeer(t, port);
      await peer.responseHead();
      peer.send(text('héllo'));
      assert.deepEqual(await got, ['héllo', false]);
    });

    for (const skip of [true, false]) {
      for (const c of cases) {
        it(`${c.what} that is not UTF-8, skipUTF8Validation ${skip}: ${skip ? 'handed on' : 'refused with 1007'}`, async (t) => {
          const { wss, port } = await listen(t, impl, { skipUTF8Validation: skip, perMessageDeflate: c.deflate });
          const events: string[] = [];
          let seen: () => void;
          const first = new Promise<void>((resolve) => {
            seen = resolve;
          });
          const closed = new Promise<void>((resolve) => {
            // biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
            wss.on('connection', (sws: any) => {
              sws.on('message', (d: Buffer, b: boolean) => {
                events.push(`message ${d.toString('hex')} ${b}`);
                seen();
              });
              sws.on('error', (e: { code: string }) => events.push(`error ${e.code}`));
              sws.on('close', (code: number, reason: Buffer) => {
                events.push(`close ${code} ${reason.toString('hex')}`.trim());
                seen();
                resolve();
              });
            });
          });
          const peer = await rawPeer(t, port, c.deflate ? DEFLATE_REQUEST(port) : undefined);
          await peer.responseHead();
          peer.send(c.bytes);
          if (skip) {
            await first;
            assert.deepEqual(events, [c.seen]);
            return;
          }
          const frames = await peer.waitFrames(1);
          assert.equal(frames[0]!.payload.readUInt16BE(0), 1007);
          await closed;
          assert.deepEqual(events, ['error WS_ERR_INVALID_UTF8', 'close 1006']);
        });
      }
    }

    it('a client with skipUTF8Validation takes text that is not UTF-8 from the server', async (t) => {
      const server = http.createServer();
      const sockets: net.Socket[] = [];
      server.on('upgrade', (req, socket: net.Socket) => {
        sockets.push(socket);
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            `Sec-WebSocket-Accept: ${acceptKey(String(req.headers['sec-websocket-key']))}\r\n\r\n`,
        );
        socket.write(text(BAD, { mask: false }));
      });
      t.after(() => {
        for (const s of sockets) s.destroy();
        server.close();
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const { port } = server.address() as net.AddressInfo;
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`, { skipUTF8Validation: true });
      const [data, binary] = await once(client, 'message');
      assert.deepEqual([data.toString('hex'), binary], ['68c328', false]);
      client.terminate();
    });
  });
}
