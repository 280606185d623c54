/**
 * obs-websocket-js 5 (the client of OBS Studio's WebSocket API v5; it makes its socket with isomorphic-ws, which is
 * `require('ws')`), run by obs-websocket.test.ts with `ws` as installed or aliased to ws-stream/ws, against a small
 * local server written here on the real ws that speaks the protocol: Hello (op 0) with an auth challenge, Identify (1)
 * checked, Identified (2), Reidentify (3), Events (5), Request/RequestResponse (6/7), RequestBatch (8/9), and OBS's
 * close codes. Both of the package's encodings run: `obs-websocket-js/json` (subprotocol obswebsocket.json, text
 * frames) and the default msgpack one (obswebsocket.msgpack, binary frames). The client only uses the browser-style
 * API (onopen/onmessage/onerror/onclose, `protocol`, `readyState`), and reports failures to connect from the
 * engine's own error messages (a refused port, no subprotocol, a 401, a dropped upgrade). Prints what the client and
 * the server saw.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';
import type net from 'node:net';
import { aliased, RealWebSocket, report } from './peer.js';

const require = createRequire(import.meta.url);

/** What this app uses of obs-websocket-js. */
interface OBSWebSocket {
  connect(url: string, password?: string, params?: object): Promise<Record<string, unknown>>;
  disconnect(): Promise<void>;
  call(requestType: string, requestData?: object): Promise<Record<string, unknown>>;
  callBatch(requests: object[], options?: object): Promise<unknown[]>;
  reidentify(data: object): Promise<Record<string, unknown>>;
  on(event: string, f: (data: never) => void): void;
  once(event: string, f: (data: never) => void): void;
  identified: boolean;
}
type OBSModule = { OBSWebSocket: new () => OBSWebSocket; EventSubscription: Record<string, number> };
const flavours: [string, OBSModule][] = [
  ['json', require('obs-websocket-js/json') as OBSModule],
  ['msgpack', require('obs-websocket-js') as OBSModule],
];
const msgpack = require('@msgpack/msgpack') as {
  encode(v: unknown): Uint8Array;
  decode(b: Uint8Array): unknown;
};

const b64sha256 = (s: string) => createHash('sha256').update(s).digest('base64');
const salt = 'c2FsdA==';
const challenge = 'Y2hhbGxlbmdl';
const expectedAuth = b64sha256(b64sha256(`sesame${salt}`) + challenge);

/** The server: what it saw, per connection (each in its order). */
const serverSaw: string[][] = [];
const httpServer = http.createServer();
const wss = new RealWebSocket.WebSocketServer({
  server: httpServer,
  handleProtocols: (protocols: Set<string>) =>
    [...protocols].find((p) => p === 'obswebsocket.json' || p === 'obswebsocket.msgpack') ?? false,
});
wss.on('connection', (ws) => {
  const saw: string[] = [];
  serverSaw.push(saw);
  const json = ws.protocol === 'obswebsocket.json';
  const send = (op: number, d: object) =>
    json ? ws.send(JSON.stringify({ op, d })) : ws.send(msgpack.encode({ op, d }));
  ws.on('message', (data: Buffer, isBinary) => {
    const { op, d } = (json ? JSON.parse(String(data)) : msgpack.decode(data)) as {
      op: number;
      d: Record<string, unknown>;
    };
    saw.push(`${ws.protocol} ${isBinary ? 'binary' : 'text'} op ${op}${d.requestType ? ` ${d.requestType}` : ''}`);
    if (op === 1) {
      if (d.authentication !== expectedAuth) return ws.close(4009, 'Authentication failed.');
      send(2, { negotiatedRpcVersion: d.rpcVersion });
    } else if (op === 3) {
      send(2, { negotiatedRpcVersion: 1 });
    } else if (op === 6) {
      const respond = (responseData?: object, status = { result: true, code: 100 }) =>
        send(7, { requestType: d.requestType, requestId: d.requestId, requestStatus: status, responseData });
      if (d.requestType === 'GetVersion') respond({ obsVersion: '31.0.0', availableRequests: ['GetVersion'] });
      else if (d.requestType === 'SetCurrentProgramScene') {
        // The event first, then the response (as OBS does when the scene changes at once).
        send(5, {
          eventType: 'CurrentProgramSceneChanged',
          eventIntent: 4,
          eventData: d.requestData,
        });
        respond();
      } else if (d.requestType === 'GetSourceScreenshot')
        respond({ imageData: `data:image/png;base64,${'A'.repeat(300_000)}` });
      else if (d.requestType === 'ShutDown') ws.close(1001, 'OBS is shutting down');
      else respond(undefined, { result: false, code: 204, comment: 'Your request type is not valid.' } as never);
    } else if (op === 8) {
      const requests = d.requests as { requestType: string }[];
      send(9, {
        requestId: d.requestId,
        results: requests.map((r) => ({ requestType: r.requestType, requestStatus: { result: true, code: 100 } })),
      });
    }
  });
  ws.on('close', (code, reason) => saw.push(`${ws.protocol} closed ${code} ${String(reason)}`));
  send(0, { obsWebSocketVersion: '5.5.0', rpcVersion: 1, authentication: { challenge, salt } });
});
await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
const url = `ws://127.0.0.1:${(httpServer.address() as net.AddressInfo).port}`;

const result: Record<string, unknown> = { aliased: aliased(require.resolve('obs-websocket-js')) };
const failure = (err: { code?: number; message: string }) => ({ code: err.code, message: err.message });

for (const [name, { OBSWebSocket, EventSubscription }] of flavours) {
  const saw: Record<string, unknown> = {};
  const obs = new OBSWebSocket();
  saw.wrongPassword = await obs.connect(url, 'wrong').then(() => 'connected', failure);
  saw.connected = await obs.connect(url, 'sesame', { eventSubscriptions: EventSubscription.Scenes });
  saw.identified = obs.identified;
  saw.version = await obs.call('GetVersion');
  const sceneChanged = new Promise((resolve) => obs.once('CurrentProgramSceneChanged', resolve));
  saw.setScene = await obs.call('SetCurrentProgramScene', { sceneName: 'Live' });
  saw.sceneChanged = await sceneChanged;
  saw.invalid = await obs.call('Nope').then(() => 'resolved', failure);
  saw.screenshot = ((await obs.call('GetSourceScreenshot')).imageData as string).length;
  saw.batch = await obs.callBatch([{ requestType: 'GetVersion' }, { requestType: 'GetStats' }]);
  saw.reidentified = await obs.reidentify({ eventSubscriptions: EventSubscription.None });
  // OBS quits: the server closes with 1001, which the client reports as ConnectionClosed.
  const closed = new Promise<{ code: number; message: string }>((resolve) => obs.once('ConnectionClosed', resolve));
  void obs.call('ShutDown').catch(() => {});
  saw.shutdown = failure(await closed);
  saw.identifiedAfter = obs.identified;
  // Connected again, then disconnect() (the close without a code).
  await obs.connect(url, 'sesame');
  await obs.disconnect();
  result[name] = saw;
}

// Failures to connect, reported with the engine's own error messages.
const obs = new flavours[0][1].OBSWebSocket();
const nobody = http.createServer();
await new Promise<void>((resolve) => nobody.listen(0, '127.0.0.1', resolve));
const nobodyPort = (nobody.address() as net.AddressInfo).port;
await new Promise((resolve) => nobody.close(resolve));
result.refused = await obs.connect(`ws://127.0.0.1:${nobodyPort}`).then(
  () => 'connected',
  (err: Error & { code: number }) => ({ code: err.code, message: err.message.replace(String(nobodyPort), 'PORT') }),
);

const noProtocol = new RealWebSocket.WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => false });
await new Promise((resolve) => noProtocol.once('listening', resolve));
result.noProtocol = await obs
  .connect(`ws://127.0.0.1:${(noProtocol.address() as net.AddressInfo).port}`)
  .then(() => 'connected', failure);
noProtocol.close();

const unauthorized = http.createServer();
unauthorized.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n'));
await new Promise<void>((resolve) => unauthorized.listen(0, '127.0.0.1', resolve));
result.unauthorized = await obs
  .connect(`ws://127.0.0.1:${(unauthorized.address() as net.AddressInfo).port}`)
  .then(() => 'connected', failure);
await new Promise((resolve) => unauthorized.close(resolve));

// A server that drops the connection on the upgrade, without an answer.
const hangingUp = http.createServer();
hangingUp.on('upgrade', (_req, socket) => socket.destroy());
await new Promise<void>((resolve) => hangingUp.listen(0, '127.0.0.1', resolve));
result.hungUp = await obs
  .connect(`ws://127.0.0.1:${(hangingUp.address() as net.AddressInfo).port}`)
  .then(() => 'connected', failure);
await new Promise((resolve) => hangingUp.close(resolve));

result.server = serverSaw;
wss.close();
await new Promise((resolve) => httpServer.close(resolve));
report(result);
