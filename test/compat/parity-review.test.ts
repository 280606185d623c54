/**
 * Review findings on ws-stream/ws, each run on the real `ws` and on ws-stream/ws with one
 * expectation: pings and pongs keep the order of the calls on the wire with permessage-deflate and
 * never wait for the socket to drain (close() behind one still times out); allowSynchronousEvents:
 * false emits in wire order, one event per turn; what handleProtocols or a 'headers' listener throws
 * comes out of handleUpgrade(); maxPayload/maxFragments given as undefined or null mean no limit;
 * a threshold that is NaN compresses nothing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import type { TestContext } from 'node:test';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { cont, KEY, text } from '../support/frames.js';
import { type Impl, impls, listen, rawPeer, ws as realWs } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Any = any;

/** 2 MB that compress: zlib takes a while over it, so what is sent after it is sent meanwhile. */
const BIG = Buffer.alloc(2 * 1024 * 1024, 'abcdefgh');

/** A server of `impl` with `options`, and a real ws client (permessage-deflate offered) on it. */
async function pair(t: TestContext, impl: Impl, options: Record<string, unknown>): Promise<[Any, Any]> {
  const { wss, port } = await listen(t, impl, options);
  const client = new realWs.WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: true });
  t.after(() => client.terminate());
  const [[server]] = await Promise.all([once(wss, 'connection'), once(client, 'open')]);
  return [server, client];
}

/** A message of `n` frames of one byte each ('a'), masked (a client's). */
function fragmented(n: number, mask: boolean): Buffer {
  const frames = [text('a', { fin: false, mask })];
  for (let i = 1; i < n - 1; i++) frames.push(cont('a', { fin: false, mask }));
  frames.push(cont('a', { mask }));
  return Buffer.concat(frames);
}

const modules = {
  ws: pathToFileURL(createRequire(import.meta.url).resolve('ws')).href,
  compat: new URL('../../src/compat/index.js', import.meta.url).href,
};

/**
 * The child: a noServer server whose `where` throws `thrown` (a JS expression), handleUpgrade called
 * in try/catch by the application; prints what it caught and whether a mark was left on `req`.
 */
function upgradeScript(module: string, where: 'headers' | 'handleProtocols', thrown: string): string {
  return `
    const http = await import('node:http');
    const { once } = await import('node:events');
    const WebSocket = (await import(${JSON.stringify(module)})).default;
    process.on('uncaughtException', (e) => { console.log('uncaught: ' + e?.message); process.exit(0); });
    const boom = () => { throw ${thrown}; };
    const wss = new WebSocket.Server({ noServer: true, ${where === 'handleProtocols' ? 'handleProtocols: boom' : ''} });
    ${where === 'headers' ? "wss.on('headers', boom);" : ''}
    const server = http.createServer();
    server.on('upgrade', (req, socket, head) => {
      const before = Object.getOwnPropertySymbols(req).length;
      try {
        wss.handleUpgrade(req, socket, head, () => console.log('connected'));
        console.log('nothing thrown');
      } catch (e) {
        console.log('caught: ' + (e === undefined ? 'undefined' : e.message));
      }
      console.log('marks left on req: ' + (Object.getOwnPropertySymbols(req).length - before));
      socket.destroy();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = new WebSocket('ws://127.0.0.1:' + server.address().port, ['p']);
    client.on('error', () => {});
    client.on('close', () => { console.log('client closed'); process.exit(0); });
  `;
}

async function runChild(script: string): Promise<string> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d;
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d;
  });
  const [code] = await once(child, 'exit');
  assert.equal(code, 0, out);
  return out.trim();
}

for (const impl of impls) {
  describe(`${impl.name}: permessage-deflate, pings and pongs behind a message being compressed`, () => {
    it('sends after a ping do not overtake it: the peer sees the order of the calls', async (t) => {
      const [server, client] = await pair(t, impl, { perMessageDeflate: true });
      const seen: string[] = [];
      client.on('message', (d: Buffer) => seen.push(d.length === BIG.length ? 'A' : String(d)));
      client.on('ping', (d: Buffer) => seen.push(`ping ${d}`));
      client.on('pong', (d: Buffer) => seen.push(`pong ${d}`));
      const calls: string[] = [];
      const cb = (name: string) => (e: Error | null) => calls.push(`${name} ${e}`);
      server.send(BIG, cb('A'));
      server.ping('p1', cb('ping'));
      server.send('B', cb('B'));
      server.pong('q1', cb('pong'));
      server.send('C', { compress: false }, cb('C'));
      server.close(1000);
      const [code] = await once(client, 'close');
      assert.deepEqual(seen, ['A', 'ping p1', 'B', 'pong q1', 'C']);
      assert.deepEqual(calls, ['A null', 'ping null', 'B null', 'pong null', 'C null']);
      assert.equal(code, 1000);
    });

    it('close() behind a ping, the peer not reading: closeTimeout still ends the connection (1006)', async (t) => {
      const [server, client] = await pair(t, impl, { perMessageDeflate: true, closeTimeout: 300 });
      // The client stops reading, then tells the server to go on.
      client._socket.pause();
      client.send('go');
      await once(server, 'message');
      server.on('error', () => {});
      server.send(Buffer.alloc(32 * 1024 * 1024, 7), { compress: false });
      server.ping('p');
      server.close(1000, 'bye');
      assert.equal(server.readyState, impl.WebSocket.CLOSING);
      const [code] = await once(server, 'close');
      assert.equal(code, 1006);
    });
  });

  describe(`${impl.name}: allowSynchronousEvents: false`, () => {
    it('a message, a ping, a pong and a message: in wire order, each on a turn of its own', async (t) => {
      const { wss, port } = await listen(t, impl);
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`, { allowSynchronousEvents: false });
      t.after(() => client.terminate());
      const [[server]] = await Promise.all([once(wss, 'connection'), once(client, 'open')]);
      const events: string[] = [];
      const done = new Promise<void>((resolve) => {
        for (const name of ['message', 'ping', 'pong']) {
          client.on(name, (d: Buffer) => {
            events.push(`${name} ${d}`);
            // Runs before the next event only when each event has a turn (setImmediate) of its own.
            setImmediate(() => events.push('turn'));
            if (String(d) === 'b') setImmediate(resolve);
          });
        }
      });
      // text 'a', ping 'x', pong 'y', text 'b' in one write.
      server._socket.write(Buffer.from('810161' + '890178' + '8a0179' + '810162', 'hex'));
      await done;
      assert.deepEqual(events, ['message a', 'turn', 'ping x', 'turn', 'pong y', 'turn', 'message b', 'turn']);
    });
  });

  describe(`${impl.name}: handleUpgrade() in the application's try/catch`, () => {
    const cases = [
      ['handleProtocols', "new Error('boom')", 'caught: boom'],
      ['headers', "new Error('boom')", 'caught: boom'],
      ['handleProtocols', 'undefined', 'caught: undefined'],
    ] as const;
    for (const [where, thrown, expected] of cases) {
      it(`${where} throws ${thrown}: handleUpgrade() throws it, the process goes on`, async () => {
        const out = await runChild(upgradeScript(modules[impl.name], where, thrown));
        assert.equal(out, `${expected}\nmarks left on req: 0\nclient closed`);
      });
    }
  });

  describe(`${impl.name}: maxPayload and maxFragments given as undefined or null`, () => {
    const over = Buffer.alloc(100 * 1024 * 1024 + 1, 1);

    it('server, maxPayload: undefined: a message over 100 MiB is taken', async (t) => {
      const { wss, port } = await listen(t, impl, { maxPayload: undefined });
      const client = new realWs.WebSocket(`ws://127.0.0.1:${port}`);
      t.after(() => client.terminate());
      const [[server]] = await Promise.all([once(wss, 'connection'), once(client, 'open')]);
      client.send(over);
      const [data] = await once(server, 'message');
      assert.equal(data.length, over.length);
    });

    it('client, maxPayload: null: a message over 100 MiB is taken', async (t) => {
      const { wss, port } = await listen(t, realWs);
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`, { maxPayload: null });
      t.after(() => client.terminate());
      const [[server]] = await Promise.all([once(wss, 'connection'), once(client, 'open')]);
      server.send(over);
      const [data] = await once(client, 'message');
      assert.equal(data.length, over.length);
    });

    it('server, maxFragments: null: a message of 16385 frames is taken', async (t) => {
      const { wss, port } = await listen(t, impl, { maxFragments: null });
      const connected = once(wss, 'connection');
      const peer = await rawPeer(t, port);
      const [server] = await connected;
      await peer.responseHead();
      const got = once(server, 'message');
      peer.send(fragmented(16385, true));
      const [data] = await got;
      assert.equal(String(data), 'a'.repeat(16385));
    });

    it('client, maxFragments: undefined: a message of 16385 frames is taken', async (t) => {
      const { wss, port } = await listen(t, realWs);
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`, { maxFragments: undefined });
      t.after(() => client.terminate());
      const [[server]] = await Promise.all([once(wss, 'connection'), once(client, 'open')]);
      server._socket.write(fragmented(16385, false));
      const [data] = await once(client, 'message');
      assert.equal(String(data), 'a'.repeat(16385));
    });
  });

  describe(`${impl.name}: perMessageDeflate threshold that is not a number`, () => {
    for (const threshold of [Number.NaN, 'many']) {
      it(`threshold ${String(threshold)}: a 2000-byte message goes uncompressed`, async (t) => {
        const { wss, port } = await listen(t, impl, { perMessageDeflate: { threshold } });
        wss.on('connection', (s: Any) => s.send('x'.repeat(2000)));
        const peer = await rawPeer(
          t,
          port,
          `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n`,
        );
        const { status, head } = await peer.responseHead();
        assert.equal(status, 101);
        assert.match(head, /permessage-deflate/);
        const [f] = await peer.waitFrames(1);
        assert.equal(f!.rsv, 0);
        assert.equal(f!.payload.length, 2000);
      });
    }
  });
}
