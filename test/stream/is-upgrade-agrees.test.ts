/**
 * `isUpgrade(request)` and `accept(request)` read the three things isUpgrade looks at — the method,
 * `Connection`, `Upgrade` — alike: over a real socket, a request that isUpgrade takes for an
 * upgrade (the rest of it being valid) is answered 101, and one it does not is refused 400 with
 * the code that names that field. A method is case-sensitive (RFC 9110 §9.1): `get` is no GET.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { it } from 'node:test';
import { isUpgrade, readRequest, WebSocketStream, type WebSocketError } from '../../src/index.js';
import { requestHead } from '../support/frames.js';
import { RawPeer } from '../support/peer.js';

interface Seen {
  upgrade: boolean;
  accept: string;
}

/** A net server that reads each request, asks isUpgrade, then hands the request to accept() anyway. */
async function server(t: { after(fn: () => unknown): void }): Promise<{ port: number; next(): Promise<Seen> }> {
  const seen: Seen[] = [];
  const waiting: ((s: Seen) => void)[] = [];
  const push = (s: Seen): void => {
    const w = waiting.shift();
    if (w) w(s);
    else seen.push(s);
  };
  const srv = net.createServer(async (socket) => {
    socket.on('error', () => {});
    const { request, head } = await readRequest(socket);
    const upgrade = isUpgrade(request);
    const ws = new WebSocketStream(socket);
    const accept = await ws.accept(request, { head }).then(
      () => 'ok',
      (e: WebSocketError) => e.code,
    );
    ws.nextLayer.destroy();
    push({ upgrade, accept });
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.after(() => srv.close());
  return {
    port: (srv.address() as net.AddressInfo).port,
    next: () => {
      const s = seen.shift();
      return s ? Promise.resolve(s) : new Promise((resolve) => waiting.push(resolve));
    },
  };
}

/** [what, request head, the code accept() fails with, or 'ok'] */
const cases: [string, string, string][] = [
  ['GET', requestHead(), 'ok'],
  ['get', requestHead({}, 'get /chat HTTP/1.1'), 'ERR_WS_BAD_METHOD'],
  ['Get', requestHead({}, 'Get /chat HTTP/1.1'), 'ERR_WS_BAD_METHOD'],
  ['gET', requestHead({}, 'gET /chat HTTP/1.1'), 'ERR_WS_BAD_METHOD'],
  ['HEAD', requestHead({}, 'HEAD /chat HTTP/1.1'), 'ERR_WS_BAD_METHOD'],
  ['POST', requestHead({}, 'POST /chat HTTP/1.1'), 'ERR_WS_BAD_METHOD'],
  ['GETX', requestHead({}, 'GETX /chat HTTP/1.1'), 'ERR_WS_BAD_METHOD'],
  ['Connection: keep-alive, Upgrade', requestHead({ Connection: 'keep-alive, Upgrade' }), 'ok'],
  ['Connection: UPGRADE', requestHead({ Connection: 'UPGRADE' }), 'ok'],
  ['Connection: keep-alive', requestHead({ Connection: 'keep-alive' }), 'ERR_WS_NO_CONNECTION_UPGRADE'],
  ['Connection: upgrades', requestHead({ Connection: 'upgrades' }), 'ERR_WS_NO_CONNECTION_UPGRADE'],
  ['no Connection', requestHead({ Connection: null }), 'ERR_WS_NO_CONNECTION'],
  ['Upgrade: WebSocket', requestHead({ Upgrade: 'WebSocket' }), 'ok'],
  ['Upgrade: h2c, websocket', requestHead({ Upgrade: 'h2c, websocket' }), 'ok'],
  ['Upgrade: websockets', requestHead({ Upgrade: 'websockets' }), 'ERR_WS_NO_UPGRADE_WEBSOCKET'],
  ['Upgrade: websocket/13', requestHead({ Upgrade: 'websocket/13' }), 'ERR_WS_NO_UPGRADE_WEBSOCKET'],
  ['no Upgrade', requestHead({ Upgrade: null }), 'ERR_WS_NO_UPGRADE'],
  [
    'Connection and Upgrade in two fields each',
    requestHead({ Connection: 'keep-alive\r\nConnection: Upgrade', Upgrade: 'h2c\r\nUpgrade: websocket' }),
    'ok',
  ],
  [
    'names in capitals',
    requestHead({ Connection: null, Upgrade: null, CONNECTION: 'upgrade', UPGRADE: 'websocket' }),
    'ok',
  ],
];

it('isUpgrade says yes exactly to the requests accept() answers 101 (method, Connection, Upgrade)', async (t) => {
  const srv = await server(t);
  for (const [what, head, code] of cases) {
    const socket = net.connect(srv.port, '127.0.0.1');
    const peer = new RawPeer(socket);
    socket.write(head);
    const status = (await peer.responseHead()).status;
    socket.destroy();
    const seen = await srv.next();
    assert.deepEqual(seen, { upgrade: code === 'ok', accept: code }, what);
    assert.equal(status, code === 'ok' ? 101 : 400, what);
  }
});
