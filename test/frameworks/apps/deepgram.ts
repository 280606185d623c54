/**
 * The Deepgram SDK's streaming sockets (@deepgram/sdk 5, which requires `ws` on Node), run by deepgram.test.ts with
 * `ws` as installed or aliased to ws-stream/ws, against a fake Deepgram API on 127.0.0.1 written here on the real ws.
 * The SDK wraps the engine in a reconnecting socket of its own: it checks the class's readyState statics, subclasses
 * the engine's WebSocket to pass an `agent` (here an http.Agent of the app's own, its connections counted), sets
 * `binaryType` to 'arraybuffer' and wraps binary messages in Blobs, uses `addEventListener`/`removeEventListener`,
 * and `ping(data)` calls ws's `ping` after checking `readyState` against the instance's `OPEN`. The flow: Flux
 * speech-to-text (listen v2: Connected, binary audio answered by TurnInfo events, a ping frame, Configure,
 * ForceEndTurn, CloseStream and the server's close without a status), text-to-speech (speak v1: Speak and Flush
 * answered by binary audio and Flushed, then Close), and a key refused in the upgrade (the 'error' and 'close'
 * handlers). Prints what the sockets and the server saw.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { DeepgramClient } from '@deepgram/sdk';
import { aliased, CountingAgent, ours, queue, RealWebSocket, report } from './peer.js';

const require = createRequire(import.meta.url);

/** The fake Deepgram API: what each connection saw. */
const sessions: string[][] = [];
const closedOnServer: Promise<unknown>[] = [];
const httpServer = http.createServer();
const wss = new RealWebSocket.WebSocketServer({
  server: httpServer,
  verifyClient: (info: { req: http.IncomingMessage }) => info.req.headers.authorization === 'Token good-key',
});
wss.on('connection', (ws, req) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const saw = [`${url.pathname}?${url.searchParams}`];
  sessions.push(saw);
  closedOnServer.push(new Promise((resolve) => ws.on('close', (code: number) => resolve(saw.push(`close ${code}`)))));
  const send = (message: object) => ws.send(JSON.stringify(message));
  ws.on('ping', (data: Buffer) => saw.push(`ping ${data}`));
  let audio = 0;
  let turn = 0;
  if (url.pathname === '/v2/listen') send({ type: 'Connected', request_id: 'req-1', sequence_id: 0 });
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) {
      audio += data.length;
      return send({ type: 'TurnInfo', event: 'Update', turn_index: turn, transcript: `${audio} bytes heard` });
    }
    const message = JSON.parse(String(data)) as { type: string; text?: string };
    saw.push(`${message.type}${message.text ? ` ${message.text}` : ''} after ${audio} bytes`);
    if (message.type === 'Configure') send({ type: 'ConfigureSuccess', sequence_id: 1 });
    else if (message.type === 'ForceEndTurn')
      send({ type: 'TurnInfo', event: 'EndOfTurn', turn_index: turn++, transcript: 'Hello there.' });
    else if (message.type === 'CloseStream') ws.close();
    else if (message.type === 'Flush') {
      ws.send(Buffer.alloc(24_000, 1));
      ws.send(Buffer.alloc(24_000, 2));
      send({ type: 'Flushed', sequence_id: 0 });
    } else if (message.type === 'Close') ws.close(1000);
  });
});
await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
const baseUrl = `ws://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;

const agent = new CountingAgent();
const client = new DeepgramClient({ apiKey: 'good-key', baseUrl, agent });
const result: Record<string, unknown> = { aliased: aliased(require.resolve('@deepgram/sdk')) };

/** What a socket's handlers get, in order (a Blob as its size; its bytes are read into `blobs`). */
interface Handlers {
  on(event: 'open' | 'message' | 'close' | 'error', f: (arg: never) => void): void;
}
const blobs: Promise<string>[] = [];
const watch = (sdkSocket: unknown) => {
  const socket = sdkSocket as Handlers;
  const events = queue<string>();
  socket.on('open', () => events.push('open'));
  socket.on('message', (data: Blob | { type: string; event?: string; transcript?: string }) => {
    if (data instanceof Blob) {
      events.push(`blob ${data.size}`);
      blobs.push(data.arrayBuffer().then((bytes) => `${bytes.byteLength} bytes of ${new Uint8Array(bytes)[0]}`));
    } else events.push([data.type, data.event, data.transcript].filter((s) => s !== undefined).join(' '));
  });
  socket.on('close', (event: { code: number; reason?: string }) => events.push(`close ${event.code}`));
  socket.on('error', (err: Error) => events.push(`error ${err.message}`));
  return events;
};
/** The engine's socket inside the SDK's reconnecting one. */
const engineSocket = (socket: unknown) =>
  (socket as { socket: { _ws: { binaryType: string; readyState: number } } }).socket._ws;

// Flux speech-to-text.
const listen = await client.listen.v2.connect({
  model: 'flux-general-en',
  encoding: 'linear16',
  sample_rate: 16_000,
  reconnectAttempts: 0,
});
const heard = watch(listen);
listen.connect();
await listen.waitForOpen();
const ws = engineSocket(listen);
result.engineSocket = { isOurs: ws instanceof ours.WebSocket, binaryType: ws.binaryType, readyState: ws.readyState };
const stt = [await heard.next(), await heard.next()];
listen.sendMedia(new Uint8Array(3200).fill(1));
listen.sendMedia(new Uint8Array(3200).fill(2).buffer);
stt.push(await heard.next(), await heard.next());
(listen as unknown as { ping(data: Buffer): void }).ping(Buffer.from('keepalive'));
listen.sendConfigure({ type: 'Configure', thresholds: { eot_threshold: 0.8 } });
stt.push(await heard.next());
listen.sendForceEndTurn({ type: 'ForceEndTurn' });
stt.push(await heard.next());
listen.sendCloseStream({ type: 'CloseStream' });
stt.push(await heard.next());
result.stt = stt;

// Text-to-speech: binary audio reaches the handler as Blobs, in order with the JSON around it.
const speak = await client.speak.v1.connect({
  model: 'aura-2-thalia-en',
  encoding: 'linear16',
  sample_rate: '24000',
  reconnectAttempts: 0,
});
const spoken = watch(speak);
speak.connect();
await speak.waitForOpen();
const tts = [await spoken.next()];
speak.sendText({ type: 'Speak', text: 'Hello there.' });
speak.sendFlush({ type: 'Flush' });
tts.push(await spoken.next(), await spoken.next(), await spoken.next());
speak.sendClose({ type: 'Close' });
tts.push(await spoken.next());
result.tts = tts;
result.blobs = await Promise.all(blobs);

// A key the server refuses in the upgrade.
const refused = await new DeepgramClient({ apiKey: 'bad-key', baseUrl, agent }).listen.v2.connect({
  model: 'flux-general-en',
  reconnectAttempts: 0,
});
const refusedEvents = watch(refused);
refused.connect();
result.refused = [await refusedEvents.next(), await refusedEvents.next()];

await Promise.all(closedOnServer);
result.sessions = sessions;
result.agentConnections = agent.connections;
wss.close();
httpServer.close();
report(result);
