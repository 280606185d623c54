/**
 * How older code (written for ws 7, as chrome-remote-interface 0.34 is) calls the client, run on the real `ws` and on
 * ws-stream/ws with the same expectations: options as the second argument, an empty protocol list beside options,
 * a `maxPayload` the server's message passes, `ping(cb)` / `ping(data, mask, cb)` / `pong(number)`, and `send` of a
 * number.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { impls, listen } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Ws = any;

const closed = (ws: Ws) =>
  new Promise<[number, string]>((resolve) => ws.once('close', (c: number, r: Buffer) => resolve([c, String(r)])));

for (const impl of impls) {
  describe(`${impl.name}: ws 7 idioms`, () => {
    it('new WebSocket(url, [], { perMessageDeflate: false, maxPayload, followRedirects }): no protocol or extension offered', async (t) => {
      const { wss, port } = await listen(t, impl, { perMessageDeflate: true });
      const request = new Promise<IncomingMessage>((resolve) =>
        wss.on('connection', (_sws: Ws, req: IncomingMessage) => resolve(req)),
      );
      const ws = new impl.WebSocket(`ws://127.0.0.1:${port}`, [], {
        maxPayload: 256 * 1024 * 1024,
        perMessageDeflate: false,
        followRedirects: true,
      });
      t.after(() => ws.terminate());
      await once(ws, 'open');
      const req = await request;
      assert.deepEqual(
        [req.headers['sec-websocket-protocol'], req.headers['sec-websocket-extensions'], ws.protocol, ws.extensions],
        [undefined, undefined, '', ''],
      );
    });

    it('new WebSocket(url, { maxPayload }): a larger message fails the client (RangeError, 1006) and the server gets 1009', async (t) => {
      const { wss, port } = await listen(t, impl);
      const serverClosed = new Promise<[number, string]>((resolve) =>
        wss.on('connection', (sws: Ws) => {
          sws.send('01234567890');
          closed(sws).then(resolve);
        }),
      );
      const ws = new impl.WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false, maxPayload: 10 });
      const errors: string[] = [];
      ws.on('error', (e: Error & { code?: string }) => errors.push(`${e.constructor.name} ${e.code} ${e.message}`));
      ws.on('message', () => errors.push('message'));
      assert.deepEqual(await closed(ws), [1006, '']);
      assert.deepEqual(errors, ['RangeError WS_ERR_UNSUPPORTED_MESSAGE_LENGTH Max payload size exceeded']);
      assert.deepEqual(await serverClosed, [1009, '']);
    });

    it('ping(cb), ping(data, mask, cb), pong(number) and send(number)', async (t) => {
      const { wss, port } = await listen(t, impl);
      const seen: string[] = [];
      const serverClosed = new Promise<void>((resolve) =>
        wss.on('connection', (sws: Ws) => {
          sws.on('ping', (d: Buffer) => seen.push(`ping '${d}'`));
          sws.on('pong', (d: Buffer) => seen.push(`pong '${d}'`));
          sws.on('message', (d: Buffer, isBinary: boolean) => seen.push(`${isBinary ? 'binary' : 'text'} '${d}'`));
          sws.on('close', () => resolve());
        }),
      );
      const ws = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      await once(ws, 'open');
      ws.ping(() => seen.push('cb 1'));
      ws.ping('a', true, () => seen.push('cb 2'));
      ws.pong(5);
      ws.send(123);
      ws.close(1000);
      await serverClosed;
      assert.deepEqual(seen, ['cb 1', 'cb 2', "ping ''", "ping 'a'", "pong '5'", "text '123'"]);
    });
  });
}
