/**
 * isomorphic-ws (on Node: `module.exports = require('ws')`), run by isomorphic-ws.test.ts with `ws` as installed or
 * aliased to ws-stream/ws: code written in the browser's style (onopen, onmessage with MessageEvent, binaryType
 * 'arraybuffer', onclose with CloseEvent) as a client of the real ws, and its `WebSocket.Server` serving a real ws
 * client. Prints what both saw.
 */
import type { AddressInfo } from 'node:net';
import WebSocket from 'isomorphic-ws';
import { client, ours, RealWebSocket, report } from './peer.js';

const result: Record<string, unknown> = { isOurs: WebSocket === (ours.default as unknown) };

// A client written as for a browser, against the real ws.
const real = new RealWebSocket.WebSocketServer({ host: '127.0.0.1', port: 0 });
await new Promise((resolve) => real.once('listening', resolve));
const seen: string[] = [];
real.on('connection', (ws, req) => {
  seen.push(`protocol ${ws.protocol} origin ${req.headers.origin ?? '-'}`);
  ws.on('message', (data, isBinary) => {
    seen.push(isBinary ? `bin ${(data as Buffer).length}` : `text ${data}`);
    if (!isBinary && String(data) === 'bye') ws.close(4100, 'see you');
    else ws.send(data, { binary: isBinary });
  });
});
const url = `ws://127.0.0.1:${(real.address() as AddressInfo).port}/`;
const browserStyle = await new Promise<unknown[]>((resolve, reject) => {
  const events: unknown[] = [];
  const ws = new WebSocket(url, ['v2', 'v1']);
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => {
    events.push(['open', ws.readyState === WebSocket.OPEN, ws.protocol]);
    ws.send('hi');
    ws.send(new Uint8Array([1, 2, 3, 250]));
  };
  ws.onmessage = (event) => {
    const data = event.data;
    events.push(
      data instanceof ArrayBuffer
        ? ['binary', [...new Uint8Array(data)]]
        : ['text', data, event.type, event.target === ws],
    );
    if (events.length === 3) ws.send('bye');
  };
  ws.onerror = (event) => reject(event.error);
  ws.onclose = (event) => {
    events.push(['close', event.code, event.reason, event.wasClean, ws.readyState === WebSocket.CLOSED]);
    resolve(events);
  };
});
result.browserStyle = browserStyle;
real.close();
result.realServerSaw = seen;

// Its server (ws's Server under the isomorphic name), with a real ws client.
const server = new WebSocket.Server({ host: '127.0.0.1', port: 0 });
await new Promise((resolve) => server.once('listening', resolve));
result.serverIsOurs = server instanceof ours.WebSocketServer;
server.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(`${isBinary ? 'bin' : 'text'}:${String(data).toUpperCase()}`));
});
const c = client(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`);
await c.opened;
c.ws.send('abc');
c.ws.send(Buffer.from('xyz'));
result.serverReplies = await c.got.until(2);
c.ws.close(1000);
result.clientClose = await c.closed;
await new Promise((resolve) => server.close(resolve));
report(result);
