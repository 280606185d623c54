/**
 * bybit-api 4's `WebsocketClient` (v5 public streams; ws 8.21 through isomorphic-ws 4), run with `ws` as installed and
 * aliased to ws-stream/ws (test/support/ws-alias.ts) in a child process each (apps/bybit.ts), against a fake Bybit
 * stream on the real ws. Both engines must show the same: the app's `wsOptions` honoured (its agent made both
 * connections, its header reached the server, no subprotocol for the empty list), updates in order, a refused topic
 * as an 'exception', the client's heartbeat when pongs stop (`close()` then `terminate()` at once: the server still
 * gets the close frame, 1005), 'reconnect' and 'reconnected' with the topics subscribed again, an unsubscribe, and
 * `closeAll()` (1005 on the server, 'close' on the client).
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';
import { describeEachEngine } from './side-by-side.js';

const book = 'orderbook.1.BTCUSDT';
const trades = 'publicTrade.BTCUSDT';

describeEachEngine(aliasEngines, 'bybit-api WebsocketClient', (engine) => {
  it('subscribes, reconnects after its pong timeout (close + terminate), resubscribes, closes', async (t) => {
    const result = await runApp<Record<string, unknown>>(t, 'bybit', engine);
    assert.deepEqual(result, {
      aliased: engine.name === 'ws-stream/ws',
      updates: [
        `${book} snapshot {"s":"BTCUSDT","b":[["65000.5","1.2"]],"a":[["65001","0.8"]],"u":1}`,
        `${book} delta {"s":"BTCUSDT","b":[["65000.5","0"]],"a":[],"u":2}`,
        `${trades} snapshot [{"T":3,"s":"BTCUSDT","S":"Buy","v":"0.01","p":"65001","i":"t1"}]`,
      ],
      refused: 'Invalid topic :[kline.bogus]',
      heartbeatClose: '1 1005',
      resubscribedUpdates: [`${book} snapshot`, `${book} delta`, `${trades} snapshot`],
      closeAll: ['2 1005', 'close'],
      lifecycle: ['open', 'reconnect', 'reconnected', 'close'],
      agentConnections: 2,
      server: [
        '1 connect fw-test protocol=none',
        `1 subscribe ${book},${trades}`,
        '1 subscribe kline.bogus',
        '1 unsubscribe kline.bogus',
        '2 connect fw-test protocol=none',
        `2 subscribe ${book},${trades}`,
        `2 unsubscribe ${trades}`,
      ],
    });
  });
});
