/**
 * ws's client against a ws-stream/ws server and ws-stream/ws's client against a ws server, with and
 * without permessage-deflate: the same scenario, the same events in the same order on both sides.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { compat, type Impl, listen, ws } from './support.js';

const seed = Number(process.env.SEED ?? Date.now() % 100000);
console.log(`# seed ${seed}`);

/** Bytes from a printed seed (a small LCG: the same seed gives the same payload). */
function seeded(n: number, s: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = s >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

const pairs: [Impl, Impl][] = [
  [compat, ws],
  [ws, compat],
  [compat, compat],
];

for (const [serverImpl, clientImpl] of pairs) {
  for (const deflate of [false, true]) {
    describe(`${clientImpl.name} client ↔ ${serverImpl.name} server, perMessageDeflate ${deflate}`, () => {
      it('messages of every kind are echoed, pings and pongs are seen, the close handshake is clean', async (t) => {
        const { wss, port } = await listen(t, serverImpl, {
          perMessageDeflate: deflate,
          handleProtocols: () => 'chat',
        });
        const serverEvents: string[] = [];
        const serverClosed = new Promise<[number, string]>((resolve) => {
          wss.on('connection', (sws: InstanceType<Impl['WebSocket']>, req: { url: string }) => {
            serverEvents.push(`connection ${req.url} ${sws.protocol} ${sws.readyState}`);
            sws.on('message', (data: Buffer, isBinary: boolean) => {
              serverEvents.push(`message ${isBinary} ${data.length}`);
              sws.send(data, { binary: isBinary });
            });
            sws.on('ping', (p: Buffer) => serverEvents.push(`ping ${p}`));
            sws.on('close', (code: number, reason: Buffer) => resolve([code, reason.toString()]));
            sws.ping('from-server');
          });
        });
        const client = new clientImpl.WebSocket(`ws://127.0.0.1:${port}/path?q=1`, ['chat', 'other'], {
          perMessageDeflate: deflate,
        });
        const events: string[] = [];
        client.on('upgrade', (res: { statusCode: number }) => events.push(`upgrade ${res.statusCode}`));
        client.on('ping', (p: Buffer) => events.push(`ping ${p}`));
        client.on('pong', (p: Buffer) => events.push(`pong ${p}`));
        const received: [boolean, Buffer][] = [];
        client.on('message', (data: Buffer, isBinary: boolean) => received.push([isBinary, data]));
        client.on('open', () => events.push(`open ${client.protocol} ${client.extensions} ${client.readyState}`));
        await once(client, 'open');
        const big = seeded(1 << 20, seed);
        const text = 'héllo '.repeat(400); // over the 1 KiB threshold: compressed when negotiated
        client.send('hi');
        client.send(Buffer.from([1, 2, 3]));
        client.send(text);
        client.send(big);
        client.send('frag', { fin: false });
        client.send('ment', { fin: true });
        client.send(new Uint8Array([9, 8]).buffer);
        client.ping('from-client');
        while (received.length < 6) await once(client, 'message');
        assert.deepEqual(
          received.map(([b, d]) => [b, b ? d.length : d.toString()]),
          [
            [false, 'hi'],
            [true, 3],
            [false, text],
            [true, big.length],
            [false, 'fragment'],
            [true, 2],
          ],
        );
        assert.ok(received[3]![1].equals(big), `the 1 MiB message came back unchanged (seed ${seed})`);
        client.close(4001, 'done');
        const [code, reason] = await new Promise<[number, Buffer]>((r) =>
          client.on('close', (c: number, b: Buffer) => r([c, b])),
        );
        assert.deepEqual([code, reason.toString(), client.readyState], [4001, 'done', 3]);
        assert.deepEqual(await serverClosed, [4001, 'done']);
        assert.deepEqual(events, [
          'upgrade 101',
          `open chat ${deflate ? 'permessage-deflate' : ''} 1`,
          'ping from-server',
          'pong from-client',
        ]);
        // Pings are reported as they are parsed; messages through the read loop (see doc/ws-compat.md).
        assert.ok(serverEvents.includes('ping from-client'), serverEvents.join());
        assert.deepEqual(
          serverEvents.filter((e) => !e.startsWith('ping')),
          [
            'connection /path?q=1 chat 1',
            'message false 2',
            'message true 3',
            `message false ${Buffer.byteLength(text)}`,
            `message true ${big.length}`,
            'message false 8',
            'message true 2',
          ],
        );
      });

      it('close() without a code reaches the peer as 1005; the server closing first works too', async (t) => {
        const { wss, port } = await listen(t, serverImpl, { perMessageDeflate: deflate });
        const serverClose = new Promise<[number, string]>((resolve) => {
          wss.on('connection', (sws: InstanceType<Impl['WebSocket']>) => {
            sws.on('close', (c: number, r: Buffer) => resolve([c, r.toString()]));
            sws.close();
          });
        });
        const client = new clientImpl.WebSocket(`ws://127.0.0.1:${port}`);
        const [code, reason] = await new Promise<[number, Buffer]>((r) =>
          client.on('close', (c: number, b: Buffer) => r([c, b])),
        );
        assert.deepEqual([code, reason.length], [1005, 0]);
        assert.deepEqual(await serverClose, [1005, '']);
      });
    });
  }
}
