/**
 * ws's client takes its own connection function for any falsy `createConnection`
 * (`opts.createConnection || netConnect`): `false`, `0` and `''` connect as if it were not given, never
 * through node's global agent (which http.request would use for a `createConnection` that is not a
 * function). Run on both engines, against the same real server; node's agent is watched, not replaced.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { describe, it } from 'node:test';
import { impls, listen, ws } from './support.js';

for (const value of [false, 0, '']) {
  describe(`createConnection: ${JSON.stringify(value)}`, () => {
    it('connects with the default connection function on both engines, as ws does', async (t) => {
      const { wss, port } = await listen(t, ws);
      const traces: string[] = [];
      for (const impl of impls) {
        const agentConnections = t.mock.method(http.globalAgent, 'createConnection');
        const accepted = once(wss, 'connection');
        const client = new impl.WebSocket(`ws://127.0.0.1:${port}`, { createConnection: value });
        const events: string[] = [];
        client.on('error', (err: Error) => events.push(`error:${err.message}`));
        await once(client, 'open');
        events.push('open');
        const [serverSide] = await accepted;
        serverSide.send('hello');
        const [data] = await once(client, 'message');
        events.push(`message:${data}`);
        client.close(1000);
        const [code] = await once(client, 'close');
        events.push(`close:${code}`);
        traces.push(`${events.join(' ')}; through node's global agent: ${agentConnections.mock.callCount()}`);
        agentConnections.mock.restore();
      }
      assert.equal(traces[0], "open message:hello close:1000; through node's global agent: 0", 'ws');
      assert.equal(traces[1], traces[0], 'ws-stream/ws as ws');
    });
  });
}
