/**
 * The OpenAI SDK's Realtime client over `ws` (openai 6, `OpenAIRealtimeWS` from openai/realtime/ws: `new
 * WS.WebSocket(url, { ...options, headers })` with the bearer key, always `wss:`), run by openai-realtime.test.ts with
 * `ws` as installed or aliased to ws-stream/ws, against a small fake Realtime API written here: an HTTPS server on
 * 127.0.0.1 with a self-signed certificate (the client trusts it through the `ca` option it passes on to ws) and the
 * real ws on it, checking the key and the model in the upgrade. The flow, as an app uses the client: session.created
 * on connect, session.update, a conversation item and response.create answered by a streamed response (text deltas,
 * a 96 kB audio delta, done events), 256 kB of input audio appended, a server error event, a frame that is not JSON,
 * `close()`, a wrong key refused with 401, and a client without the `ca` (the TLS error). Prints what the client and the server saw.
 */
import { readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { createRequire } from 'node:module';
import type net from 'node:net';
import { dirname } from 'node:path';
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import { selfSigned } from '../../support/tls-cert.js';
import { aliased, ours, queue, RealWebSocket, report } from './peer.js';

const require = createRequire(import.meta.url);
const { cert, key } = selfSigned();
const ca = readFileSync(cert);
const httpsOptions = { cert: ca, key: readFileSync(key) };
rmSync(dirname(cert), { recursive: true });

/** The fake Realtime API. */
const serverSaw: string[] = [];
const closedOnServer = queue<string>();
const httpsServer = https.createServer(httpsOptions);
const wss = new RealWebSocket.WebSocketServer({
  server: httpsServer,
  verifyClient: (info: { req: import('node:http').IncomingMessage }) =>
    info.req.headers.authorization === 'Bearer sk-test-key',
});
let eventIds = 0;
wss.on('connection', (ws, req) => {
  const query = new URL(req.url ?? '/', 'https://x');
  serverSaw.push(`connect ${query.pathname} model=${query.searchParams.get('model')}`);
  const send = (event: Record<string, unknown>) => ws.send(JSON.stringify({ event_id: `evt_${++eventIds}`, ...event }));
  send({ type: 'session.created', session: { id: 'sess_1', model: query.searchParams.get('model') } });
  ws.on('message', (data: Buffer, isBinary) => {
    const event = JSON.parse(String(data)) as { type: string; session?: object; audio?: string };
    serverSaw.push(`${isBinary ? 'binary' : 'text'} ${event.type}${event.audio ? ` ${event.audio.length}` : ''}`);
    if (event.type === 'session.update') send({ type: 'session.updated', session: { id: 'sess_1', ...event.session } });
    else if (event.type === 'input_audio_buffer.append') {
      send({
        type: 'input_audio_buffer.committed',
        item_id: 'item_audio',
        bytes: Buffer.from(event.audio ?? '', 'base64').length,
      });
    } else if (event.type === 'response.create') {
      send({ type: 'response.created', response: { id: 'resp_1', status: 'in_progress' } });
      for (const delta of ['Hel', 'lo', ' 👋'])
        send({ type: 'response.output_text.delta', response_id: 'resp_1', delta });
      send({
        type: 'response.output_audio.delta',
        response_id: 'resp_1',
        delta: Buffer.alloc(72_000, 5).toString('base64'),
      });
      send({ type: 'response.output_text.done', response_id: 'resp_1', text: 'Hello 👋' });
      send({ type: 'response.done', response: { id: 'resp_1', status: 'completed' } });
    } else if (event.type === 'session.bogus') {
      send({
        type: 'error',
        error: {
          type: 'invalid_request_error',
          code: 'unknown_event',
          message: 'Unknown event',
          param: null,
          event_id: 'c1',
        },
      });
    } else if (event.type === 'garble') {
      ws.send('not json {');
    }
  });
  ws.on('close', (code, reason) => closedOnServer.push(`${code} ${String(reason)}`));
});
await new Promise<void>((resolve) => httpsServer.listen(0, '127.0.0.1', resolve));
const baseURL = `https://127.0.0.1:${(httpsServer.address() as net.AddressInfo).port}/v1`;

const result: Record<string, unknown> = { aliased: aliased(require.resolve('openai')) };
const client = new OpenAI({ apiKey: 'sk-test-key', baseURL });
const rt = new OpenAIRealtimeWS({ model: 'gpt-realtime', options: { ca } }, client);
result.socketIsOurs = (rt.socket as unknown) instanceof ours.WebSocket;
const events = queue<{ type: string }>();
const errors = queue<string>();
const types: string[] = [];
rt.on('event', (event) => {
  types.push(event.type);
  events.push(event);
});
rt.on('error', (err) => errors.push(err.message));
/** The next event of `type` (those before it are in `types`). */
const until = async (type: string) => {
  for (;;) {
    const event = await events.next();
    if (event.type === type) return event;
  }
};
await new Promise((resolve) => rt.socket.once('open', resolve));
result.url = rt.url.toString().replace(/:\d+\//, ':PORT/');

result.created = await until('session.created');
rt.send({ type: 'session.update', session: { type: 'realtime', instructions: 'Be brief.' } });
result.updated = await until('session.updated');

rt.send({
  type: 'conversation.item.create',
  item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Say hi' }] },
});
let text = '';
rt.on('response.output_text.delta', (event) => {
  text += event.delta;
});
let audio = 0;
rt.on('response.output_audio.delta', (event) => {
  audio += Buffer.from(event.delta, 'base64').length;
});
rt.send({ type: 'response.create' });
result.done = await until('response.done');
result.response = { text, audio };

rt.send({ type: 'input_audio_buffer.append', audio: Buffer.alloc(256 * 1024, 1).toString('base64') });
result.committed = await until('input_audio_buffer.committed');

// An error event from the server, and a frame that is not JSON: both reach the 'error' listener.
rt.send({ type: 'session.bogus' } as never);
result.serverError = await errors.next();
rt.send({ type: 'garble' } as never);
result.parseError = await errors.next();

const closedOnClient = new Promise<string>((resolve) =>
  rt.socket.once('close', (code: number, reason: Buffer) => resolve(`${code} ${String(reason)}`)),
);
rt.close();
result.closed = { client: await closedOnClient, server: await closedOnServer.next() };
result.types = types;

// A wrong key: refused in the upgrade; the client reports the engine's error.
const wrong = new OpenAIRealtimeWS(
  { model: 'gpt-realtime', options: { ca } },
  new OpenAI({ apiKey: 'sk-wrong', baseURL }),
);
const refused = new Promise<string>((resolve) => wrong.on('error', (err) => resolve(err.message)));
result.refused = await refused;

// No `ca`: the certificate is not trusted; the client reports the TLS error as the engine passes it on.
const untrusting = new OpenAIRealtimeWS({ model: 'gpt-realtime' }, client);
result.untrusted = await new Promise<unknown>((resolve) =>
  untrusting.on('error', (err) => {
    const cause = err.cause as { code?: string };
    resolve([err.message, cause.code]);
  }),
);

result.server = serverSaw;
wss.close();
await new Promise((resolve) => httpsServer.close(resolve));
report(result);
