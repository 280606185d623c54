/**
 * jayson 5 (JSON-RPC 2.0; its websocket server is `new WebSocket.Server(options)` and its client `new WebSocket(url)`,
 * both from isomorphic-ws 4, which requires jayson's own ws 7), run by jayson.test.ts with `ws` as installed or aliased
 * to ws-stream/ws (both ends then run on it), as its README shows: `server.websocket({ server })` on an HTTP server,
 * `client.websocket({ url })` once its socket is open. The flow: calls answered (a result, an error, a batch), a
 * notification (no reply), text that is not JSON (a parse error pushed with a null id, which the client leaves to
 * other listeners), a call the server never answers (the client's timeout), `unlisten()`, and the close both ends
 * see. Prints what the client and the server saw.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import type net from 'node:net';
import { aliased, ours, report } from './peer.js';

const require = createRequire(import.meta.url);

/** What this app uses of jayson. */
type Callback = (err: unknown, result?: unknown) => void;
interface RpcClient {
  ws: {
    readyState: number;
    on(event: string, f: (...args: never[]) => void): void;
    once(event: string, f: (...args: never[]) => void): void;
    send(data: string): void;
    close(code?: number, reason?: string): void;
  };
  request(method: string, params: unknown, id?: null | Callback, callback?: Callback): void;
  request(batch: unknown[], callback: Callback): void;
  unlisten(): void;
}
const jayson = require('jayson') as {
  server(methods: Record<string, (args: unknown[], callback: Callback) => void>): {
    websocket(options: object): { on(event: string, f: (...args: never[]) => void): void };
  };
  client: { websocket(options: object): RpcClient };
};
const result: Record<string, unknown> = { aliased: aliased(require.resolve('jayson')) };

const notified: unknown[] = [];
let notifiedWaiter: (() => void) | undefined;
const server = jayson.server({
  add: (args, callback) => callback(null, (args[0] as number) + (args[1] as number)),
  fail: (_args, callback) => callback({ code: 4000, message: 'nope', data: { why: 'asked to' } }),
  echo: (args, callback) => callback(null, args),
  notify: (args, callback) => {
    notified.push(args);
    notifiedWaiter?.();
    callback(null);
  },
  // Never answers.
  hang: () => {},
});
const httpServer = http.createServer();
const wss = server.websocket({ server: httpServer });
result.serverIsOurs = wss instanceof ours.WebSocketServer;
const serverCloses: Promise<string>[] = [];
wss.on('connection', (ws: { on(e: 'close', f: (code: number, reason: Buffer) => void): void }) => {
  serverCloses.push(new Promise((resolve) => ws.on('close', (code, reason) => resolve(`${code} ${String(reason)}`))));
});
await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
const url = `ws://127.0.0.1:${(httpServer.address() as net.AddressInfo).port}`;

/** A client whose socket is open (jayson sends at once: it must be). */
async function open(options: object = {}): Promise<RpcClient> {
  const c = jayson.client.websocket({ url, ...options });
  await new Promise<void>((resolve, reject) => {
    c.ws.once('open', resolve);
    c.ws.once('error', reject);
  });
  return c;
}
const client = await open();
result.clientIsOurs = client.ws instanceof ours.WebSocket;
/** A call's response (its random id left out), or the error the client gave. */
const call = (method: string, params: unknown, c = client) =>
  new Promise<unknown>((resolve) =>
    c.request(method, params, (err, response) => {
      if (err) return resolve(err);
      const { id: _id, ...rest } = response as { id: string };
      resolve(rest);
    }),
  );

const added = await call('add', [1, 2]);
const failed = await call('fail', []);
const missing = await call('nothing', []);
const echoed = await call('echo', ['héllo', { big: 'x'.repeat(100_000) }]);
const batch = await new Promise<unknown>((resolve) =>
  client.request(
    [
      { jsonrpc: '2.0', method: 'add', params: [3, 4], id: 'b1' },
      { jsonrpc: '2.0', method: 'echo', params: ['b'], id: 'b2' },
    ],
    (err: unknown, responses?: unknown) => resolve(err ?? responses),
  ),
);
result.calls = {
  added,
  failed,
  missing: (missing as { error: { code: number } }).error.code,
  echoed: ((echoed as { result: [string, { big: string }] }).result ?? []).map((v) =>
    typeof v === 'string' ? v : v.big.length,
  ),
  batch,
};

// A notification: no id, no reply; the server's method runs.
const ran = new Promise<void>((resolve) => {
  notifiedWaiter = resolve;
});
client.request('notify', ['seen'], null, () => {});
await ran;
result.notified = notified;

// Text that is not JSON: the server pushes a parse error with a null id; the client matches no request to it.
const raw = new Promise<string>((resolve) => client.ws.once('message', (data: Buffer) => resolve(String(data))));
client.ws.send('{not json');
const parseError = JSON.parse(await raw) as { id: unknown; error: { code: number } };
result.parseError = [parseError.id, parseError.error.code];

// A call the server never answers, from a client with a timeout: it gives up.
const patient = await open({ timeout: 200 });
const timedOut = (await call('hang', [], patient)) as Error;
result.timeout = timedOut.message;
patient.ws.close();

// unlisten(), then the client closes: both ends see it.
client.unlisten();
const clientClosed = new Promise<string>((resolve) =>
  client.ws.once('close', (code: number, reason: Buffer) => resolve(`${code} ${String(reason)}`)),
);
client.ws.close(1000, 'done');
result.closed = { client: await clientClosed, server: await serverCloses[0], patient: await serverCloses[1] };
await new Promise((resolve) => httpServer.close(resolve));
report(result);
