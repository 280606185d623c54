/**
 * doc/ws-compat.md's "Invalid permessage-deflate options" paragraph: what the ws-stream/ws
 * constructors refuse at once (ERR_WS_INVALID_ARGUMENT) and what they take as ws does; and the
 * Sec-WebSocket-Extensions request headers the two servers read differently.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { it } from 'node:test';
import zlib from 'node:zlib';
import { WebSocketServer as WsServer } from 'ws';
import { WebSocket, WebSocketServer } from '../../src/compat/index.js';
import { randomText } from '../support/deflate-sender.js';
import { requestHead } from '../support/frames.js';
import { attack } from '../support/hostile.js';
import { random } from '../support/random.js';

type Options = ConstructorParameters<typeof WebSocketServer>[0];

const makers = {
  server: (o: Options) => new WebSocketServer({ noServer: true, ...o }),
  client: (o: Options) => new WebSocket('ws://127.0.0.1:1', { ...(o as object) }),
};

it('WebSocket and WebSocketServer refuse window bits outside 8–15, a zlib level over 9, a memLevel outside 1–9 and a closeTimeout that is no integer of ms', () => {
  const bad: [Options, RegExp][] = [
    [{ perMessageDeflate: { serverMaxWindowBits: 16 } }, /serverMaxWindowBits/],
    [{ perMessageDeflate: { clientMaxWindowBits: 7 } }, /clientMaxWindowBits/],
    [{ perMessageDeflate: { zlibDeflateOptions: { level: 10 } } }, /level/],
    [{ perMessageDeflate: { zlibDeflateOptions: { memLevel: 10 } } }, /memLevel/],
    [{ perMessageDeflate: { zlibDeflateOptions: { memLevel: 0 } } }, /memLevel/],
    [{ closeTimeout: 1.5 }, /closeTimeout/],
    [{ closeTimeout: -1 }, /closeTimeout/],
  ];
  let refused = 0;
  for (const [role, make] of Object.entries(makers)) {
    for (const [options, message] of bad) {
      assert.throws(
        () => make(options),
        (e: Error & { code?: string }) => e.code === 'ERR_WS_INVALID_ARGUMENT' && message.test(e.message),
        `${role} ${JSON.stringify(options)}`,
      );
      refused++;
    }
  }
  assert.equal(refused, 2 * bad.length);
});

it('a negative zlib level means zlib default 6, as in ws: not refused, and the first message compresses as level 6 does', async (t) => {
  const client = makers.client({ perMessageDeflate: { zlibDeflateOptions: { level: -1 } } });
  client.on('error', () => {});
  client.terminate();
  const server = new WebSocketServer({
    port: 0,
    host: '127.0.0.1',
    perMessageDeflate: { zlibDeflateOptions: { level: -1 }, threshold: 0 },
  });
  await once(server, 'listening');
  t.after(() => server.close());
  const message = randomText(random(7), 300, 400);
  server.on('connection', (ws) => ws.send(message.toString()));
  const port = (server.address() as AddressInfo).port;
  const exchange = await attack(
    port,
    [requestHead({ Host: `127.0.0.1:${port}`, 'Sec-WebSocket-Extensions': 'permessage-deflate' })],
    { closeIfOpened: true },
  );
  assert.match(exchange.head, /\r\nSec-WebSocket-Extensions: permessage-deflate/i);
  const first = exchange.frames[0]!;
  assert.equal(first.rsv, 4);
  const level = (n: number): Buffer => {
    const all = zlib.deflateRawSync(message, { level: n, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    return all.subarray(0, all.length - 4);
  };
  assert.ok(!level(6).equals(level(1)), 'the text tells level 6 from level 1');
  assert.deepEqual(first.payload, level(6));
});

it('"A Sec-WebSocket-Extensions request header that ws\'s parser and the core read differently": each case on both servers', async (t) => {
  // [header, ws's answer, ours]: 'deflate' (101 agreeing to it), 'none' (101 without it) or the refusal's status.
  const cases: [string, string, string][] = [
    ['permessage-deflate; foo, permessage-deflate', '400', 'deflate'],
    ['permessage-deflate; server_max_window_bits = 10', '400', 'deflate'],
    ['', '400', 'none'],
    [', ,', '400', 'none'],
    ['permessage-deflate; client_max_window_bits=08', 'deflate', '400'],
    ['PerMessage-Deflate', 'none', 'deflate'],
  ];
  const answers = async (Server: typeof WebSocketServer | typeof WsServer): Promise<string[]> => {
    const server = new (Server as typeof WebSocketServer)({ port: 0, host: '127.0.0.1', perMessageDeflate: true });
    await once(server, 'listening');
    t.after(() => server.close());
    (server as unknown as NodeJS.EventEmitter).on('connection', (ws: NodeJS.EventEmitter) => ws.on('error', () => {}));
    const port = (server.address() as AddressInfo).port;
    const out: string[] = [];
    for (const [header] of cases) {
      const ex = await attack(port, [requestHead({ Host: `127.0.0.1:${port}`, 'Sec-WebSocket-Extensions': header })], {
        closeIfOpened: true,
      });
      if (ex.status !== 101) out.push(String(ex.status));
      else out.push(/\r\nSec-WebSocket-Extensions: permessage-deflate/i.test(ex.head) ? 'deflate' : 'none');
    }
    return out;
  };
  assert.deepEqual(
    await answers(WsServer),
    cases.map((c) => c[1]),
    'ws',
  );
  assert.deepEqual(
    await answers(WebSocketServer),
    cases.map((c) => c[2]),
    'ws-stream/ws',
  );
});
