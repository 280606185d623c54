/**
 * An aedes 1 MQTT broker served over WebSockets as aedes' docs show (a WebSocketServer, and each connection's
 * createWebSocketStream(ws) handed to aedes.handle), and mqtt 5 clients connecting to it with ws:// (in Node they
 * `require('ws')`, which the alias turns into ws-stream/ws). Run by mqtt.test.ts: the clients' engine is the alias's,
 * the broker's is MQTT_SERVER's (ws-stream/ws, or the real ws by path). Prints what the clients and the broker saw.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import type net from 'node:net';
import { Aedes } from 'aedes';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { aliased, ours, RealWebSocket, report } from './peer.js';

const result: Record<string, unknown> = {
  clientIsOurs: aliased(createRequire(import.meta.url).resolve('mqtt')),
};

// The broker, on the engine MQTT_SERVER names.
// Typed as ws's (aedes and these calls are typed against @types/ws).
const serverEngine = (process.env.MQTT_SERVER === 'ws-stream/ws' ? ours : RealWebSocket) as unknown as Pick<
  typeof import('ws'),
  'WebSocketServer' | 'createWebSocketStream'
>;
const broker = await Aedes.createBroker();
const httpServer = http.createServer();
const wss = new serverEngine.WebSocketServer({ server: httpServer });
result.serverIsOurs = wss instanceof ours.WebSocketServer;
const protocols: string[] = [];
/** Per connection, in order: the close code its server-side WebSocket reported. */
const serverCloses: Promise<number>[] = [];
const serverSockets: { terminate(): void }[] = [];
wss.on('connection', (websocket, req) => {
  serverSockets.push(websocket);
  protocols.push(websocket.protocol);
  serverCloses.push(new Promise((resolve) => websocket.once('close', (code) => resolve(code))));
  const stream = serverEngine.createWebSocketStream(websocket);
  broker.handle(stream, req);
});
await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
const url = `ws://127.0.0.1:${(httpServer.address() as net.AddressInfo).port}`;

function connect(clientId: string, options: IClientOptions = {}, to = url): Promise<MqttClient> {
  const c = mqtt.connect(to, { clientId, reconnectPeriod: 0, ...options });
  return new Promise((resolve, reject) => {
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}
const ready = (id: string) =>
  new Promise<void>((resolve) =>
    broker.on('clientReady', (c) => {
      if (c.id === id) resolve();
    }),
  );
const gone = (id: string) =>
  new Promise<void>((resolve) =>
    broker.on('clientDisconnect', (c) => {
      if (c.id === id) resolve();
    }),
  );

interface Got {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
}
/** Every message of a client from now on, and a wait for a count; large payloads are shown as length and hash. */
function collect(c: MqttClient) {
  const messages: Got[] = [];
  let waiting: { count: number; resolve: () => void } | undefined;
  c.on('message', (topic, payload, packet) => {
    const text =
      payload.length > 1000
        ? `${payload.length}:${createHash('sha256').update(payload).digest('hex')}`
        : payload.toString();
    messages.push({ topic, payload: text, qos: packet.qos, retain: packet.retain });
    if (waiting && messages.length >= waiting.count) waiting.resolve();
  });
  return {
    messages,
    until: (count: number) =>
      messages.length >= count ? Promise.resolve() : new Promise<void>((resolve) => (waiting = { count, resolve })),
  };
}

const sub = await connect('sub');
const pub = await connect('pub');
const got = collect(sub);
result.granted = (await sub.subscribeAsync({ 'qos/#': { qos: 2 }, 'big/#': { qos: 1 }, 'seq/#': { qos: 1 } })).map(
  (g) => [g.topic, g.qos],
);

// QoS 0, 1 and 2, each as published (the subscription grants up to 2).
for (const qos of [0, 1, 2] as const) await pub.publishAsync(`qos/${qos}`, `at qos ${qos}`, { qos });
await got.until(3);
result.qos = got.messages.splice(0);

// A payload of 3 MiB, binary, both ways through the broker.
const big = Buffer.alloc(3 * 1024 * 1024);
for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 11)) & 0xff;
await pub.publishAsync('big/one', big, { qos: 1 });
await got.until(1);
result.big = got.messages.splice(0);
result.bigSent = `${big.length}:${createHash('sha256').update(big).digest('hex')}`;

// 500 messages at QoS 0 on one topic and 500 at QoS 1 on another, published back to back (no wait between them,
// interleaved): all arrive, each topic's in order (MQTT orders a topic's messages of one QoS; the broker does not
// keep order across QoS levels, as the real ws shows too).
const count = 500;
const sent: Promise<unknown>[] = [];
for (let i = 0; i < count; i++) {
  sent.push(pub.publishAsync('seq/0', String(i), { qos: 0 }));
  sent.push(pub.publishAsync('seq/1', String(i), { qos: 1 }));
}
await Promise.all(sent);
await got.until(2 * count);
const seq = got.messages.splice(0);
result.inOrder = [0, 1].map((qos) =>
  seq.filter((m) => m.topic === `seq/${qos}`).every((m, i) => m.payload === String(i) && m.qos === qos),
);
result.seqCount = [0, 1].map((qos) => seq.filter((m) => m.topic === `seq/${qos}`).length);

// A retained message is kept by the broker and given to a client that subscribes later, flagged as retained.
await pub.publishAsync('ret/x', 'kept', { qos: 1, retain: true });
const late = await connect('late');
const lateGot = collect(late);
await late.subscribeAsync('ret/#', { qos: 1 });
await lateGot.until(1);
result.retained = lateGot.messages.splice(0);

// Last will: a client that terminates (its stream destroyed: no DISCONNECT, no close frame) has its will published;
// the broker sees the connection go.
await sub.subscribeAsync('will/#', { qos: 1 });
const dyingReady = ready('dying');
const dying = await connect('dying', {
  will: { topic: 'will/dying', payload: Buffer.from('gone'), qos: 1, retain: false },
});
await dyingReady;
const dyingGone = gone('dying');
const dyingClosed = new Promise<void>((resolve) => dying.once('close', () => resolve()));
dying.end(true);
await dyingClosed;
await dyingGone;
await got.until(1);
result.will = got.messages.splice(0);
result.dyingServerClose = await serverCloses[3];

// A clean disconnect (DISCONNECT, then the WebSocket closed): the will is not published. The next message on will/#
// is a marker published after the broker saw the client go.
const politeReady = ready('polite');
const polite = await connect('polite', {
  will: { topic: 'will/polite', payload: Buffer.from('nope'), qos: 1, retain: false },
});
await politeReady;
const politeGone = gone('polite');
const politeClosed = new Promise<void>((resolve) => polite.once('close', () => resolve()));
await polite.endAsync();
await politeClosed;
await politeGone;
await pub.publishAsync('will/marker', 'after polite', { qos: 1 });
await got.until(1);
result.afterClean = got.messages.splice(0);

// A burst of 24 messages of 256 KiB at QoS 0, published without waiting: the streams' back-pressure on both sides
// (writes refused until 'drain'), and all arrive in order.
await sub.subscribeAsync('burst/#', { qos: 0 });
const burst = Array.from({ length: 24 }, (_, i) => Buffer.alloc(256 * 1024, i));
await Promise.all(burst.map((b) => pub.publishAsync('burst/x', b, { qos: 0 })));
await got.until(burst.length);
result.burst = got.messages
  .splice(0)
  .every((m, i) => m.payload === `${burst[i]!.length}:${createHash('sha256').update(burst[i]!).digest('hex')}`);

// A persistent session (clean: false) whose connection the broker's side terminates: the client reconnects by itself
// and gets the QoS 1 messages published while it was away.
const persist = await connect('persist', { clean: false, reconnectPeriod: 20 });
const persistGot = collect(persist);
await persist.subscribeAsync('offline/#', { qos: 1 });
const persistGone = gone('persist');
const persistReconnected = new Promise<void>((resolve) => persist.once('reconnect', () => resolve()));
serverSockets[5]!.terminate();
await persistGone;
for (const n of [1, 2, 3]) await pub.publishAsync('offline/x', `while away ${n}`, { qos: 1 });
await persistGot.until(3);
await persistReconnected;
result.offline = persistGot.messages.splice(0);
result.persistServerClose = await serverCloses[5];
await persist.endAsync();

// wsOptions go to the client's WebSocket (and createWebSocketStream): a header aedes sees on its client's request.
const withHeader = await connect('header', { wsOptions: { headers: { 'X-Token': 'abc' } } });
result.header = (
  broker as unknown as { clients: Record<string, { req?: http.IncomingMessage }> }
).clients.header?.req?.headers['x-token'];
await withHeader.endAsync();

// A second broker endpoint with permessage-deflate on (ws's client offers it by default; one client opts out with
// wsOptions): a compressible 1 MiB payload and 200 messages in order, through compressed frames both ways.
const deflateServer = http.createServer();
const deflateWss = new serverEngine.WebSocketServer({ server: deflateServer, perMessageDeflate: true });
const extensions: string[] = [];
deflateWss.on('connection', (websocket, req) => {
  extensions.push(websocket.extensions);
  broker.handle(serverEngine.createWebSocketStream(websocket), req);
});
await new Promise<void>((resolve) => deflateServer.listen(0, '127.0.0.1', resolve));
const deflateUrl = `ws://127.0.0.1:${(deflateServer.address() as net.AddressInfo).port}`;
const zsub = await connect('zsub', {}, deflateUrl);
const zpub = await connect('zpub', { wsOptions: { perMessageDeflate: false } }, deflateUrl);
const zgot = collect(zsub);
await zsub.subscribeAsync('z/#', { qos: 1 });
const text = 'a compressible MQTT payload line ✓\n'.repeat(30_000);
await zpub.publishAsync('z/big', text, { qos: 1 });
await Promise.all(Array.from({ length: 200 }, (_, i) => zpub.publishAsync('z/seq', `m${i}`, { qos: 1 })));
await zgot.until(201);
const z = zgot.messages.splice(0);
result.deflate = {
  extensions,
  big: z[0]!.payload === `${Buffer.byteLength(text)}:${createHash('sha256').update(text).digest('hex')}`,
  inOrder: z.slice(1).every((m, i) => m.payload === `m${i}`),
};
for (const c of [zsub, zpub]) await c.endAsync();
for (const ws of deflateWss.clients) ws.terminate();
await new Promise<void>((resolve) => deflateWss.close(() => resolve()));
deflateServer.closeAllConnections();
await new Promise<void>((resolve) => deflateServer.close(() => resolve()));

// wss:// on an https server (the test certificate, for localhost): mqtt hands its `ca` to the client's WebSocket;
// without it the self-signed certificate is refused.
const cert = readFileSync(new URL('../../../../test/fixtures/cert.pem', import.meta.url));
const key = readFileSync(new URL('../../../../test/fixtures/key.pem', import.meta.url));
const tlsServer = https.createServer({ cert, key });
const tlsWss = new serverEngine.WebSocketServer({ server: tlsServer });
tlsWss.on('connection', (websocket, req) => broker.handle(serverEngine.createWebSocketStream(websocket), req));
await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
const tlsUrl = `wss://localhost:${(tlsServer.address() as net.AddressInfo).port}`;
const secure = await connect('secure', { ca: cert }, tlsUrl);
const secureGot = collect(secure);
await secure.subscribeAsync('tls/#', { qos: 1 });
await pub.publishAsync('tls/x', 'over wss', { qos: 1 });
await secureGot.until(1);
result.tls = secureGot.messages.splice(0);
await secure.endAsync();
result.untrusted = await connect('untrusted', {}, tlsUrl).then(
  () => 'connected',
  (e: NodeJS.ErrnoException) => e.code,
);
for (const ws of tlsWss.clients) ws.terminate();
await new Promise<void>((resolve) => tlsWss.close(() => resolve()));
tlsServer.closeAllConnections();
await new Promise<void>((resolve) => tlsServer.close(() => resolve()));

result.protocols = protocols;
for (const c of [sub, pub, late]) await c.endAsync();
await new Promise<void>((resolve) => broker.close(() => resolve()));
for (const ws of wss.clients) ws.terminate();
await new Promise<void>((resolve) => wss.close(() => resolve()));
httpServer.closeAllConnections();
await new Promise<void>((resolve) => httpServer.close(() => resolve()));
report(result);
