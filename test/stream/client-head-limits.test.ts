/**
 * The client role's limits on the response head: `maxHeaderBytes` (16 KiB) and `maxHeaders` (2000,
 * node:http's `maxHeadersCount`; a server takes 100 from strangers, a client reads the server it chose),
 * options of `connect()` and `handshake()`. A head over one fails with ERR_WS_HEADER_LIMIT naming the
 * option. A 101 with 150 fields, which `ws`'s client takes, used to fail ERR_WS_BAD_RESPONSE.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { it } from 'node:test';
import WebSocket from 'ws';
import { connect, WebSocketStream, type WebSocketError } from '../../src/index.js';
import { fakeServer, response101 } from '../support/hostile.js';

type After = { after(fn: () => unknown): void };

/** `count` header field lines, short ("x1z:" and no value): 2000 fit in 16 KiB. */
function fields(count: number): string {
  let s = '';
  for (let i = 0; i < count; i++) s += `x${i.toString(36)}:\r\n`;
  return s;
}

/** A fake server answering 101 with `extra` lines after the three of the handshake. */
function serverWith(t: After, extra: string) {
  return fakeServer(t, (socket, accept) => socket.write(response101(accept, extra)));
}

/** connect()'s outcome: 'open', or the error's code and message. */
async function outcome(url: string, options: Parameters<typeof connect>[1] = {}): Promise<string> {
  try {
    const ws = await connect(url, options);
    ws.nextLayer.destroy();
    return 'open';
  } catch (e) {
    return `${(e as WebSocketError).code} ${(e as WebSocketError).message}`;
  }
}

/** Whether `ws`'s client opens on the same server. */
function wsOpens(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = new WebSocket(url);
    c.on('open', () => {
      c.terminate();
      resolve(true);
    });
    c.on('error', () => resolve(false));
  });
}

it('a 101 with 150 header fields opens, as with ws', async (t) => {
  const { url } = await serverWith(t, fields(147));
  assert.equal(await wsOpens(url), true);
  assert.equal(await outcome(url), 'open');
});

it('by default up to 2000 fields: 2000 open, 2001 fail ERR_WS_HEADER_LIMIT naming maxHeaders', async (t) => {
  const ok = await serverWith(t, fields(1997));
  assert.equal(await outcome(ok.url), 'open');
  const over = await serverWith(t, fields(1998));
  assert.ok(response101('x', fields(1998)).length < 16 * 1024, 'within maxHeaderBytes');
  assert.equal(
    await outcome(over.url),
    'ERR_WS_HEADER_LIMIT HTTP head too large or too many header fields: more than 2000 header fields in the response (option maxHeaders)',
  );
});

it('connect({ maxHeaders }) sets the limit: 10 fields open, 11 fail', async (t) => {
  const ok = await serverWith(t, fields(7));
  assert.equal(await outcome(ok.url, { maxHeaders: 10 }), 'open');
  const over = await serverWith(t, fields(8));
  assert.match(
    await outcome(over.url, { maxHeaders: 10 }),
    /^ERR_WS_HEADER_LIMIT .*more than 10 header fields in the response \(option maxHeaders\)$/,
  );
});

it('connect({ maxHeaderBytes }) sets the limit: a head of 1024 bytes opens, 1025 fail naming maxHeaderBytes', async (t) => {
  const padded = (bytes: number): string => {
    const base = response101('x'.repeat(28), 'X-Pad: \r\n').length;
    return `X-Pad: ${'p'.repeat(bytes - base)}\r\n`;
  };
  const ok = await serverWith(t, padded(1024));
  assert.equal(await outcome(ok.url, { maxHeaderBytes: 1024 }), 'open');
  const over = await serverWith(t, padded(1025));
  assert.equal(
    await outcome(over.url, { maxHeaderBytes: 1024 }),
    'ERR_WS_HEADER_LIMIT HTTP head too large or too many header fields: HTTP head over 1024 bytes in the response (option maxHeaderBytes)',
  );
  // The default, 16 KiB, as a server's.
  const big = await serverWith(t, padded(16 * 1024 + 1));
  assert.match(
    await outcome(big.url),
    /^ERR_WS_HEADER_LIMIT .*over 16384 bytes in the response \(option maxHeaderBytes\)$/,
  );
});

it('handshake({ maxHeaders }) over a connected socket', async (t) => {
  const { port } = await serverWith(t, fields(8));
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const ws = new WebSocketStream(socket);
  await assert.rejects(ws.handshake({ host: `127.0.0.1:${port}`, maxHeaders: 10 }), {
    code: 'ERR_WS_HEADER_LIMIT',
    message: /more than 10 header fields in the response \(option maxHeaders\)$/,
  });
});

it('a bad limit is ERR_WS_INVALID_ARGUMENT before anything is connected', async (t) => {
  let connections = 0;
  const srv = net.createServer((s) => {
    connections++;
    s.destroy();
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.after(() => srv.close());
  const url = `ws://127.0.0.1:${(srv.address() as net.AddressInfo).port}/`;
  for (const bad of [{ maxHeaders: 0 }, { maxHeaders: 1.5 }, { maxHeaderBytes: 63 }, { maxHeaderBytes: '16384' }]) {
    await assert.rejects(connect(url, bad as never), { code: 'ERR_WS_INVALID_ARGUMENT' }, JSON.stringify(bad));
  }
  assert.equal(connections, 0);
});
