/**
 * Gaps found by running ws's own test suite against ws-stream/ws, each run on the real `ws` and on
 * ws-stream/ws with one expectation (see doc/ws-compat.md, "ws's own suite"): events and what a
 * peer sees around them.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { impls, listen, ws as realWs } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Any = any;

describe('wssuite: the automatic pong goes out before the ping is reported', () => {
  for (const impl of impls) {
    it(`${impl.name}: a server that closes in its 'ping' listener still answers the ping`, async (t) => {
      const { wss, port } = await listen(t, impl);
      wss.on('connection', (ws: Any) => ws.on('ping', () => ws.close(4001, 'after ping')));
      const client = new realWs.WebSocket(`ws://127.0.0.1:${port}`);
      t.after(() => client.terminate());
      const seen: string[] = [];
      client.on('pong', (data: Buffer) => seen.push(`pong:${data.toString()}`));
      client.on('close', (code: number, reason: Buffer) => seen.push(`close:${code}:${reason.toString()}`));
      await once(client, 'open');
      client.ping('are you there');
      await once(client, 'close');
      assert.deepEqual(seen, ['pong:are you there', 'close:4001:after ping']);
    });

    it(`${impl.name}: a client that closes in its 'ping' listener still answers the ping`, async (t) => {
      const { wss, port } = await listen(t, realWs);
      const pongs: string[] = [];
      wss.on('connection', (ws: Any) => {
        ws.on('pong', (data: Buffer) => pongs.push(data.toString()));
        ws.ping('ping 1');
      });
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      t.after(() => client.terminate());
      client.on('ping', () => client.close(1000));
      const [code] = await once(client, 'close');
      assert.equal(code, 1000);
      assert.deepEqual(pongs, ['ping 1']);
    });
  }
});
