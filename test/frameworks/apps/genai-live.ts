/**
 * The Live API of Google's Gen AI SDK (@google/genai 2, whose Node build opens its session with `new
 * NodeWs.WebSocket(url, { headers })` from `ws` and sets the `on*` handlers), run by genai-live.test.ts with `ws` as
 * installed or aliased to ws-stream/ws, against a fake BidiGenerateContent endpoint written here on the real ws
 * (`httpOptions.baseUrl` on 127.0.0.1: the SDK turns http: into ws:). Like the service, it answers in binary frames
 * holding JSON, which the SDK parses from whatever `event.data` the engine gives. The flow, as an app uses it:
 * `ai.live.connect` (setup sent, resolved on setupComplete), a text turn answered by a streamed model turn, 200 kB of
 * realtime audio, a tool call answered with `sendToolResponse`, goAway, the server's 1011 with its reason seen by
 * `onclose`, a second session closed by `session.close()`, and a key refused with 403 (`onerror` with the engine's
 * message, then `onclose`). Prints what the callbacks and the server saw.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import type net from 'node:net';
import { GoogleGenAI, type LiveServerMessage, Modality } from '@google/genai';
import { aliased, queue, RealWebSocket, report } from './peer.js';

const require = createRequire(import.meta.url);

/** The fake endpoint: what it received, per session. */
const serverSaw: string[][] = [];
const closedOnServer = queue<string>();
const sessions = queue<import('ws').WebSocket>();
const httpServer = http.createServer();
const wss = new RealWebSocket.WebSocketServer({
  server: httpServer,
  verifyClient: (info: { req: http.IncomingMessage }, cb: (ok: boolean, code?: number, message?: string) => void) => {
    const key = new URL(info.req.url ?? '/', 'http://x').searchParams.get('key');
    cb(key === 'test-key', 403, 'API key not valid');
  },
});
wss.on('connection', (ws, req) => {
  const saw: string[] = [`${req.url?.split('?')[0]} ${String(req.headers['x-goog-api-client']).split('/')[0]}`];
  serverSaw.push(saw);
  // As the service does: JSON in binary frames.
  const send = (m: object) => ws.send(Buffer.from(JSON.stringify(m)));
  ws.on('message', (data: Buffer, isBinary) => {
    const m = JSON.parse(String(data)) as Record<string, Record<string, unknown>>;
    const kind = Object.keys(m)[0];
    saw.push(`${isBinary ? 'binary' : 'text'} ${kind}`);
    if (kind === 'setup') {
      saw.push(`setup ${JSON.stringify(m.setup)}`);
      send({ setupComplete: {} });
    } else if (kind === 'clientContent') {
      for (const text of ['Hel', 'lo ', 'there'])
        send({ serverContent: { modelTurn: { role: 'model', parts: [{ text }] } } });
      send({ serverContent: { turnComplete: true }, usageMetadata: { totalTokenCount: 12 } });
    } else if (kind === 'realtimeInput') {
      const audio = m.realtimeInput.audio as { data: string; mimeType: string };
      send({
        serverContent: {
          inputTranscription: { text: `${Buffer.from(audio.data, 'base64').length} bytes of ${audio.mimeType}` },
        },
      });
      send({ toolCall: { functionCalls: [{ id: 'call-1', name: 'get_weather', args: { city: 'Paris' } }] } });
    } else if (kind === 'toolResponse') {
      saw.push(`toolResponse ${JSON.stringify(m.toolResponse)}`);
      send({ goAway: { timeLeft: '10s' } });
    }
  });
  ws.on('close', (code, reason) => closedOnServer.push(`${code} ${String(reason)}`));
  sessions.push(ws);
});
await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
const baseUrl = `http://127.0.0.1:${(httpServer.address() as net.AddressInfo).port}`;

const result: Record<string, unknown> = { aliased: aliased(require.resolve('@google/genai')) };
const ai = new GoogleGenAI({ apiKey: 'test-key', httpOptions: { baseUrl } });

/** A session's callbacks, recorded: its messages, a log of the others, and its close. */
function callbacks() {
  const messages = queue<LiveServerMessage>();
  const log: string[] = [];
  let closedWith: (s: string) => void = () => {};
  const closed = new Promise<string>((resolve) => {
    closedWith = resolve;
  });
  return {
    messages,
    log,
    closed,
    callbacks: {
      onopen: () => log.push('open'),
      onmessage: (m: LiveServerMessage) => messages.push(m),
      onerror: (e: { message?: string }) => log.push(`error ${e.message}`),
      onclose: (e: { code: number; reason: string; wasClean: boolean }) => {
        log.push(`close ${e.code} ${e.reason} ${e.wasClean}`);
        closedWith(`${e.code} ${e.reason}`);
      },
    },
  };
}

const first = callbacks();
const session = await ai.live.connect({
  model: 'gemini-live-2.5-flash',
  config: { responseModalities: [Modality.TEXT], systemInstruction: 'Be brief.' },
  callbacks: first.callbacks,
});
const server = await sessions.next();

session.sendClientContent({ turns: 'Hello', turnComplete: true });
let text = '';
for (;;) {
  const m = await first.messages.next();
  if (m.text) text += m.text;
  if (m.serverContent?.turnComplete) {
    result.turn = { text, usage: m.usageMetadata };
    break;
  }
}

session.sendRealtimeInput({
  audio: { data: Buffer.alloc(200_000, 7).toString('base64'), mimeType: 'audio/pcm;rate=16000' },
});
result.transcription = (await first.messages.next()).serverContent?.inputTranscription;
const toolCall = (await first.messages.next()).toolCall;
result.toolCall = toolCall;
session.sendToolResponse({
  functionResponses: [{ id: toolCall?.functionCalls?.[0].id, name: 'get_weather', response: { forecast: 'sunny' } }],
});
result.goAway = (await first.messages.next()).goAway;

// The server ends the session with 1011 and a reason: onclose reports them.
server.close(1011, 'Internal error');
result.serverClose = { client: await first.closed, server: await closedOnServer.next(), log: first.log };

// A second session, closed by the app.
const second = callbacks();
const other = await ai.live.connect({
  model: 'gemini-live-2.5-flash',
  config: { responseModalities: [Modality.TEXT] },
  callbacks: second.callbacks,
});
await sessions.next();
other.close();
result.appClose = { client: await second.closed, server: await closedOnServer.next(), log: second.log };

// A refused key: connect() never resolves (it waits for the open); the callbacks tell what happened.
const refused = callbacks();
void new GoogleGenAI({ apiKey: 'wrong-key', httpOptions: { baseUrl } }).live.connect({
  model: 'gemini-live-2.5-flash',
  callbacks: refused.callbacks,
});
await refused.closed;
result.refused = refused.log;

result.server = serverSaw;
wss.close();
await new Promise((resolve) => httpServer.close(resolve));
report(result);
