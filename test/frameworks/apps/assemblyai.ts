/**
 * The AssemblyAI SDK's streaming transcriber (assemblyai 4, `StreamingTranscriber`, which imports `ws` on Node and
 * always dials `wss:`), run by assemblyai.test.ts with `ws` as installed or aliased to ws-stream/ws, against a fake
 * streaming API written here: an HTTPS server on 127.0.0.1 with the real ws on it. The SDK passes ws no TLS options,
 * so the client trusts the test's self-signed certificate through NODE_EXTRA_CA_CERTS (Node's default CA store, as a
 * user behind a corporate CA would). It makes `new WebSocket(url, { headers: { Authorization } })`, sets `binaryType`
 * to 'arraybuffer', uses the `on*` handlers with ws's event objects (`event.error` of an ErrorEvent, `code` and
 * `reason` of a CloseEvent), and on `close()` calls `removeAllListeners()` then sets `onerror` before `close()`. The
 * flow: the session parameters in the query, Begin, binary audio (direct and through `stream()`), Turn events,
 * UpdateConfiguration and ForceEndpoint, Terminate answered by Termination, a server error frame, a close with a
 * code the SDK names (3005) and one with the server's reason, a key refused by a 4001 close, and an upgrade refused
 * with 401. Prints what the transcriber and the server saw.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { AssemblyAI, type StreamingTranscriber } from 'assemblyai';
import type WsDefault from 'ws';
import { aliased, ours, queue, RealWebSocket, report } from './peer.js';

const require = createRequire(import.meta.url);

/** The fake streaming API: what each session saw, in order. */
const sessions: string[][] = [];
const serverSockets = queue<WsDefault>();
const closedOnServer: Promise<unknown>[] = [];
const httpsServer = https.createServer({
  cert: readFileSync(process.env.TLS_CERT as string),
  key: readFileSync(process.env.TLS_KEY as string),
});
const wss = new RealWebSocket.WebSocketServer({
  server: httpsServer,
  verifyClient: (info: { req: import('node:http').IncomingMessage }) => info.req.headers.authorization !== 'banned',
});
wss.on('connection', (ws, req) => {
  const url = new URL(req.url ?? '/', 'https://x');
  const saw = [`${url.pathname}?${url.searchParams}`];
  sessions.push(saw);
  serverSockets.push(ws);
  const send = (message: object) => ws.send(JSON.stringify(message));
  let audioBytes = 0;
  let turn = 0;
  const endTurn = (transcript: string) =>
    send({ type: 'Turn', turn_order: turn++, end_of_turn: true, turn_is_formatted: true, transcript, words: [] });
  closedOnServer.push(
    new Promise((resolve) =>
      ws.on('close', (code: number, reason: Buffer) => resolve(saw.push(`close ${code} ${reason}`))),
    ),
  );
  if (req.headers.authorization !== 'good-key') return ws.close(4001);
  send({ type: 'Begin', id: 'session-1', expires_at: 1_700_000_000 });
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) {
      audioBytes += data.length;
      if (audioBytes === 3200)
        send({ type: 'Turn', turn_order: turn, end_of_turn: false, transcript: 'hello', words: [{ text: 'hello' }] });
      return;
    }
    const message = JSON.parse(String(data)) as { type: string };
    saw.push(`${message.type} ${JSON.stringify({ ...message, type: undefined })} after ${audioBytes} bytes`);
    if (message.type === 'ForceEndpoint') endTurn('Hello world.');
    else if (message.type === 'UpdateConfiguration') send({ type: 'Warning', warning_code: 1, warning: 'noted' });
    else if (message.type === 'Terminate') {
      endTurn('Bye.');
      send({ type: 'Termination', audio_duration_seconds: audioBytes / 32_000, session_duration_seconds: 2 });
    }
  });
});
await new Promise<void>((resolve) => httpsServer.listen(0, '127.0.0.1', resolve));
const websocketBaseUrl = `wss://127.0.0.1:${(httpsServer.address() as AddressInfo).port}/v3/ws`;

const client = new AssemblyAI({ apiKey: 'good-key' });
const transcriber = (options: { apiKey?: string } = {}) =>
  client.streaming.transcriber({
    websocketBaseUrl,
    sampleRate: 16_000,
    formatTurns: true,
    keytermsPrompt: ['ws-stream'],
    connectTimeout: 0,
    maxConnectionRetries: 0,
    ...options,
  });
const result: Record<string, unknown> = { aliased: aliased(require.resolve('assemblyai')) };

/** A transcriber's events, in order. */
const watch = (rt: StreamingTranscriber) => {
  const events = queue<string>();
  rt.on('turn', (turn) => events.push(`turn ${turn.turn_order} ${turn.end_of_turn} ${turn.transcript}`));
  rt.on('warning', (warning) => events.push(`warning ${warning.warning_code} ${warning.warning}`));
  rt.on('error', (err) => events.push(`error ${err.message} ${(err as { code?: number }).code}`));
  rt.on('close', (code, reason) => events.push(`close ${code} ${reason}`));
  return events;
};
const warn = console.warn;
console.warn = () => {}; // the SDK logs each Warning event too

const rt = transcriber();
const events = watch(rt);
result.begin = await rt.connect();
await serverSockets.next();
const socket = (rt as unknown as { socket: { binaryType: string } }).socket;
result.socket = { isOurs: socket instanceof ours.WebSocket, binaryType: socket.binaryType };
rt.sendAudio(new Uint8Array(1600).fill(1).buffer);
rt.sendAudio(new Uint8Array(1600).fill(2).buffer);
const partial = await events.next();
await Readable.toWeb(Readable.from([Buffer.alloc(32_000, 3), Buffer.alloc(32_000, 4)])).pipeTo(rt.stream());
rt.updateConfiguration({ end_of_turn_confidence_threshold: 0.5 });
const warned = await events.next();
rt.forceEndpoint();
const ended = await events.next();
await rt.close();
result.session = [partial, warned, ended, await events.next()];

// Server-side failures during a session: an error frame, then a close with a code the SDK has a message for.
const failing = transcriber();
const failingEvents = watch(failing);
await failing.connect();
const failingServer = await serverSockets.next();
failingServer.send(JSON.stringify({ error: 'Audio chunk too long', error_code: 3007 }));
result.errorFrame = await failingEvents.next();
failingServer.close(3005);
result.closedByServer = await failingEvents.next();
const reasoned = transcriber();
const reasonedEvents = watch(reasoned);
await reasoned.connect();
(await serverSockets.next()).close(4031, 'idle for too long');
result.closedWithReason = await reasonedEvents.next();

// A key the server takes the upgrade for, then closes with 4001 before Begin; and one refused in the upgrade.
const failure = (err: Error & { code?: number; retryable?: boolean }) => ({
  message: err.message,
  code: err.code ?? null,
  retryable: err.retryable,
});
result.unauthorized = await transcriber({ apiKey: 'bad-key' })
  .connect()
  .then(() => 'connected', failure);
await serverSockets.next();
result.refused = await transcriber({ apiKey: 'banned' })
  .connect()
  .then(() => 'connected', failure);
console.warn = warn;

await Promise.all(closedOnServer);
result.sessions = sessions;
wss.close();
httpsServer.close();
report(result);
