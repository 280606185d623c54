/**
 * ws's permessage-deflate options on both ends, as code written for ws sets them: a real client opens to a real
 * server, each given a `perMessageDeflate` object, in the four pairs of ws and ws-stream/ws; each trace must be the
 * trace of ws's client and ws's server. The trace: the offer the server received and the answer the client received
 * (parameters sorted: their order is documented to differ), the client's 'open' and `extensions` or its 'error', and a
 * 3000-byte message echoed through the agreed compression.
 *
 * ws tells an option set to `false` from one not given: `false` refuses what the peer asks for (a server declines an
 * offer with `server_no_context_takeover` against `serverNoContextTakeover: false`, a client refuses an answer with
 * `client_no_context_takeover` against `clientNoContextTakeover: false`; `clientMaxWindowBits: false` offers no
 * `client_max_window_bits`), a window of 15 is offered as given, and the booleans are taken for their truth.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { compat, type Impl, ws } from './support.js';

type Options = Record<string, unknown> | undefined;
// biome-ignore lint/suspicious/noExplicitAny: both implementations of ws's API
type Any = any;

/** The parameters of an extension header, sorted; a stated window of 15 is left out (doc/ws-compat.md). */
function params(header: string | undefined): string {
  if (header === undefined) return 'none';
  return header
    .split(';')
    .map((s) => s.trim())
    .filter((p) => !/^(server|client)_max_window_bits=15$/.test(p))
    .sort()
    .join('; ');
}

async function run(
  t: TestContext,
  serverImpl: Impl,
  clientImpl: Impl,
  server: Options,
  client: Options,
): Promise<string[]> {
  const trace: string[] = [];
  const httpServer = http.createServer();
  t.after(() => httpServer.close());
  httpServer.listen(0, '127.0.0.1');
  await once(httpServer, 'listening');
  // Registered before the WebSocketServer's: it sees the offer of a request the server then refuses.
  httpServer.on('upgrade', (req: http.IncomingMessage) =>
    trace.push(`offer: ${params(req.headers['sec-websocket-extensions'])}`),
  );
  let wss: Any;
  try {
    wss = new serverImpl.WebSocketServer({ server: httpServer, perMessageDeflate: server ?? true });
  } catch (e) {
    return [`server threw: ${(e as Error).message}`];
  }
  t.after(() => wss.close());
  wss.on('connection', (s: Any) => s.on('message', (data: Buffer) => s.send(data)));
  let c: Any;
  try {
    c = new clientImpl.WebSocket(`ws://127.0.0.1:${(httpServer.address() as { port: number }).port}/`, {
      perMessageDeflate: client ?? true,
    });
  } catch (e) {
    return [`client threw: ${(e as Error).message}`];
  }
  c.on('upgrade', (res: http.IncomingMessage) =>
    trace.push(`answer: ${params(res.headers['sec-websocket-extensions'])}`),
  );
  c.on('open', () => {
    trace.push(`open: ${c.extensions}`);
    c.send('x'.repeat(3000));
  });
  c.on('message', (data: Buffer) => {
    trace.push(`echo: ${data.length}`);
    c.close();
  });
  c.on('error', (e: Error) => trace.push(`error: ${e.message}`));
  await new Promise((resolve) => c.on('close', resolve));
  return trace;
}

const servers: Options[] = [
  undefined,
  { serverNoContextTakeover: false },
  { serverNoContextTakeover: true },
  { clientNoContextTakeover: true },
  { serverMaxWindowBits: false },
  { clientMaxWindowBits: false },
  { serverMaxWindowBits: 15 },
  { clientMaxWindowBits: 15 },
  { serverMaxWindowBits: 12, clientMaxWindowBits: 12 },
];

const clients: Options[] = [
  undefined,
  { serverNoContextTakeover: true },
  { serverNoContextTakeover: 1 },
  { clientNoContextTakeover: 'yes' },
  { clientNoContextTakeover: false },
  { clientMaxWindowBits: false },
  { serverMaxWindowBits: 15 },
  { clientMaxWindowBits: 15 },
  { serverMaxWindowBits: 10 },
  { clientMaxWindowBits: 10 },
  { serverMaxWindowBits: true },
];

/** Where doc/ws-compat.md says the pair differs from ws: the name of its bullet. */
function documented(server: Options, client: Options, serverImpl: Impl, clientImpl: Impl): string | null {
  if (clientImpl === compat && client?.serverMaxWindowBits === true)
    return "A client's `serverMaxWindowBits: true` offers no `server_max_window_bits`";
  if (serverImpl === compat) {
    // A window the server wants smaller than the client's (ws: 400), or a client not offering to limit its window
    // to a server that would limit it to 15 (no limit: ws 400).
    const sBits = server?.serverMaxWindowBits;
    const cBits = server?.clientMaxWindowBits;
    const offeredS = client?.serverMaxWindowBits;
    const offeredC = client?.clientMaxWindowBits;
    if (typeof sBits === 'number' && typeof offeredS === 'number' && offeredS < sBits)
      return "A client's window below the server's";
    if (typeof cBits === 'number' && typeof offeredC === 'number' && offeredC < cBits)
      return "A client's window below the server's";
    if (cBits === 15 && offeredC === false) return "A client's window below the server's";
  }
  return null;
}

const pairs: [string, Impl, Impl][] = [
  ['ws-stream/ws server and client', compat, compat],
  ['ws server, ws-stream/ws client', ws, compat],
  ['ws-stream/ws server, ws client', compat, ws],
];

describe("ws's perMessageDeflate options on both ends, ws-stream/ws against ws", () => {
  for (const server of servers) {
    it(`server ${JSON.stringify(server ?? true)} with each client's options`, async (t) => {
      let compared = 0;
      for (const client of clients) {
        const reference = await run(t, ws, ws, server, client);
        for (const [name, serverImpl, clientImpl] of pairs) {
          if (documented(server, client, serverImpl, clientImpl) !== null) continue;
          assert.deepEqual(
            await run(t, serverImpl, clientImpl, server, client),
            reference,
            `${name}, client ${JSON.stringify(client ?? true)}`,
          );
          compared++;
        }
      }
      assert.ok(compared >= clients.length * 2, `only ${compared} pairs compared`);
    });
  }

  it('the documented differences are real: ws refuses what ws-stream/ws agrees to', async (t) => {
    // ws's client sends `server_max_window_bits` bare; ws's own server refuses it.
    const bare = await run(t, ws, ws, undefined, { serverMaxWindowBits: true });
    assert.deepEqual(bare, [
      'offer: client_max_window_bits; permessage-deflate; server_max_window_bits',
      'error: Unexpected server response: 400',
    ]);
    assert.deepEqual(await run(t, ws, compat, undefined, { serverMaxWindowBits: true }), [
      'offer: client_max_window_bits; permessage-deflate',
      'answer: permessage-deflate',
      'open: permessage-deflate',
      'echo: 3000',
    ]);
    // A server window of 12 and a client asking for 10: ws refuses, the core agrees on 10 (RFC 7692 §7.1.2.1).
    const lower = { serverMaxWindowBits: 12 };
    assert.equal(
      (await run(t, ws, ws, lower, { serverMaxWindowBits: 10 })).at(-1),
      'error: Unexpected server response: 400',
    );
    assert.deepEqual(await run(t, compat, ws, lower, { serverMaxWindowBits: 10 }), [
      'offer: client_max_window_bits; permessage-deflate; server_max_window_bits=10',
      'answer: permessage-deflate; server_max_window_bits=10',
      'open: permessage-deflate',
      'echo: 3000',
    ]);
  });
});
