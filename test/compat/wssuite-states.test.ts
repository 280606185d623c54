/**
 * Behaviours from ws's own tests (websocket.test.js, websocket-server.test.js), each run on the real
 * `ws` and on ws-stream/ws: the log of one engine must equal the other's, and the expectations
 * written here hold on both. Callbacks of send/ping/pong/close in each state, argument errors,
 * close() twice and terminate() after close(), `bufferedAmount` counting what was refused, the
 * server's `clients` and close(cb), a 404 without an 'unexpected-response' listener.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { type Impl, compat, listen, ws } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Any = any;

function errText(e: unknown): string {
  if (e === null || e === undefined) return String(e);
  const err = e as Error & { code?: string };
  return `${err.constructor.name}: ${err.message}${err.code ? ` (${err.code})` : ''}`;
}

/** Runs `fn`, giving what it threw (or 'returned'). */
function thrown(fn: () => unknown): string {
  try {
    fn();
    return 'returned';
  } catch (e) {
    return errText(e);
  }
}

/** A ws client of `impl` connected to a server of `impl`: [server side, client side, server]. */
async function pair(t: TestContext, impl: Impl, options: Record<string, unknown> = {}): Promise<[Any, Any, Any]> {
  const { wss, port } = await listen(t, impl, options);
  const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
  t.after(() => client.terminate());
  const [[server]] = await Promise.all([once(wss, 'connection'), once(client, 'open')]);
  return [server, client, wss];
}

/** Each call's callback result, in the order they came, with the readyState at the time. */
function recorder(log: string[], client: Any): (name: string) => (err?: unknown) => void {
  return (name) => (err) => log.push(`${name} cb: ${errText(err)} (state ${client.readyState})`);
}

async function callbacksInStates(t: TestContext, impl: Impl): Promise<string[]> {
  const [, client] = await pair(t, impl, { perMessageDeflate: false });
  const log: string[] = [];
  const cb = recorder(log, client);
  client.send('open', cb('send open'));
  client.ping('p', undefined, cb('ping open'));
  client.pong('p', undefined, cb('pong open'));
  client.close(1000, 'bye');
  log.push(`after close: state ${client.readyState}`);
  client.send('closing', cb('send closing'));
  client.ping(cb('ping closing'));
  client.pong(undefined, true, cb('pong closing'));
  log.push(`bufferedAmount closing: ${client.bufferedAmount}`);
  client.close(); // a second close() changes nothing
  client.terminate(); // while closing: the socket goes before the server's answer, 'close' 1006
  const [code] = await once(client, 'close');
  log.push(`close ${code}`);
  client.send('closed', cb('send closed'));
  client.ping(cb('ping closed'));
  await new Promise((resolve) => client.pong('', false, (err: unknown) => resolve(cb('pong closed')(err))));
  log.push(`bufferedAmount closed: ${client.bufferedAmount}`);
  return log;
}

async function argumentErrors(t: TestContext, impl: Impl): Promise<string[]> {
  const [, client] = await pair(t, impl, { perMessageDeflate: false });
  return [
    thrown(() => client.ping(Buffer.alloc(126))),
    thrown(() => client.pong('x'.repeat(126))),
    thrown(() => client.close(1005)),
    thrown(() => client.close(999)),
    thrown(() => client.close(1000, 'x'.repeat(124))),
    thrown(() => client.close(1000, 42)),
    thrown(() => client.ping(Buffer.alloc(125))),
  ];
}

async function serverClose(t: TestContext, impl: Impl): Promise<string[]> {
  const [server, client, wss] = await pair(t, impl, { perMessageDeflate: false });
  const log: string[] = [`clients ${wss.clients.size}`, `same ${[...wss.clients][0] === server}`];
  wss.on('close', () => log.push('wss close'));
  const closed = new Promise((resolve) => wss.close((err: unknown) => resolve(log.push(`close cb: ${errText(err)}`))));
  log.push(`client state after wss.close: ${client.readyState}`);
  client.close(1001);
  await once(server, 'close');
  log.push(`clients ${wss.clients.size}`);
  await closed;
  await new Promise((resolve) => wss.close((err: unknown) => resolve(log.push(`second close cb: ${errText(err)}`))));
  return log;
}

async function notFound(t: TestContext, impl: Impl): Promise<string[]> {
  const server = http.createServer((_req, res) => {
    res.writeHead(404);
    res.end('nope');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const client = new impl.WebSocket(`ws://127.0.0.1:${(server.address() as { port: number }).port}`);
  const log: string[] = [];
  client.on('open', () => log.push('open'));
  client.on('error', (e: unknown) => log.push(`error ${errText(e)}`));
  // Not once(client, 'close'): it rejects on the 'error' that comes first.
  await new Promise((resolve) =>
    client.on('close', (code: number, reason: Buffer) =>
      resolve(log.push(`close ${code} '${reason}' state ${client.readyState}`)),
    ),
  );
  return log;
}

const scenarios: [string, (t: TestContext, impl: Impl) => Promise<string[]>, (log: string[]) => void][] = [
  [
    'callbacks of send/ping/pong in OPEN, CLOSING and CLOSED; close() twice, terminate() while closing',
    callbacksInStates,
    (log) => {
      assert.ok(log.includes('send closing cb: Error: WebSocket is not open: readyState 2 (CLOSING) (state 2)'));
      assert.ok(log.includes('send closed cb: Error: WebSocket is not open: readyState 3 (CLOSED) (state 3)'));
    },
  ],
  [
    'argument errors of ping, pong and close',
    argumentErrors,
    (log) => assert.equal(log[0], 'RangeError: The data size must not be greater than 125 bytes'),
  ],
  [
    "the server's clients and close(cb): close() leaves the clients open, a second close(cb) errs",
    serverClose,
    (log) => assert.equal(log.at(-1), 'second close cb: Error: The server is not running'),
  ],
  [
    "a 404 without an 'unexpected-response' listener: 'error' then 'close' 1006",
    notFound,
    (log) => assert.deepEqual(log, ['error Error: Unexpected server response: 404', "close 1006 '' state 3"]),
  ],
];

describe('ws suite behaviours, ws-stream/ws against ws', () => {
  for (const [name, run, check] of scenarios) {
    it(name, async (t) => {
      const expected = await run(t, ws);
      check(expected);
      const got = await run(t, compat);
      if (process.env.SHOW_LOG) console.log(expected);
      assert.deepEqual(got, expected);
    });
  }
});
