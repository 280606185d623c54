/**
 * The rest of the ws API, on the real `ws` and on ws-stream/ws with the same expectations:
 * binaryType conversions, the EventTarget side, createWebSocketStream, the client's options
 * (unexpected-response, redirects, ws+unix, finishRequest), the undocumented members frameworks
 * use (`_socket`, `_sender.sendFrame` with frames from ws's `Sender.frame`), and require() loading.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import * as wsModule from 'ws';

/** ws's frame builder, as socket.io-adapter uses it (exported by ws's ESM wrapper; not in @types/ws). */
const { Sender } = wsModule as unknown as {
  Sender: { frame(data: Buffer, options: Record<string, unknown>): Buffer[] };
};
import * as compatModule from '../../src/compat/index.js';
import { compat, impls, listen, ws } from './support.js';

for (const impl of impls) {
  describe(`${impl.name}: WebSocket API`, () => {
    it('binaryType: nodebuffer, arraybuffer, fragments, blob; text stays a Buffer; unknown types are ignored', async (t) => {
      const { wss, port } = await listen(t, impl);
      wss.on(
        'connection',
        (sws: { on(e: string, f: (d: Buffer, b: boolean) => void): void; send(d: Buffer, o: object): void }) =>
          sws.on('message', (d, b) => sws.send(d, { binary: b })),
      );
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      await once(client, 'open');
      const seen: unknown[] = [];
      client.on('message', (d: unknown, b: boolean) => seen.push([b, d]));
      const echo = async (type: string, data: unknown): Promise<unknown> => {
        client.binaryType = type;
        const n = seen.length;
        client.send(data);
        while (seen.length === n) await once(client, 'message');
        return (seen[n] as [boolean, unknown])[1];
      };
      assert.equal(client.binaryType, 'nodebuffer');
      const buf = await echo('nodebuffer', Buffer.from([1, 2, 3]));
      assert.ok(Buffer.isBuffer(buf) && buf.equals(Buffer.from([1, 2, 3])));
      const ab = await echo('arraybuffer', Buffer.from([4, 5]));
      assert.ok(ab instanceof ArrayBuffer);
      assert.deepEqual([...new Uint8Array(ab as ArrayBuffer)], [4, 5]);
      const frags = (await echo('fragments', Buffer.from([6]))) as Buffer[];
      assert.ok(Array.isArray(frags));
      assert.deepEqual(Buffer.concat(frags), Buffer.from([6]));
      const blob = (await echo('blob', Buffer.from([7, 8]))) as Blob;
      assert.ok(blob instanceof Blob);
      assert.deepEqual([...new Uint8Array(await blob.arrayBuffer())], [7, 8]);
      const txt = await echo('arraybuffer', 'text');
      assert.ok(Buffer.isBuffer(txt) && txt.toString() === 'text');
      client.binaryType = 'nonsense';
      assert.equal(client.binaryType, 'arraybuffer');
      // A Blob is sent too, in order with what follows it.
      client.binaryType = 'nodebuffer';
      const n = seen.length;
      client.send(new Blob([Buffer.from('blob!')]));
      client.send('after');
      while (seen.length < n + 2) await once(client, 'message');
      assert.deepEqual(
        seen.slice(n).map((x) => String((x as [boolean, Buffer])[1])),
        ['blob!', 'after'],
      );
      client.close();
      await once(client, 'close');
    });

    it('EventTarget: addEventListener (once, handleEvent objects, no duplicates), on<event> attributes, event shapes', async (t) => {
      const { wss, port } = await listen(t, impl);
      wss.on('connection', (sws: { send(d: string): void; close(c: number, r: string): void }) => {
        sws.send('one');
        sws.send('two');
        sws.close(4000, 'bye');
      });
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      const log: string[] = [];
      // `this` is the WebSocket for a function, the object for a handleEvent object.
      const onMessage = function (this: unknown, e: { data: unknown; type: string; target: unknown }): void {
        log.push(`listener ${e.type} ${e.data} ${e.target === client} ${this === client}`);
      };
      client.addEventListener('message', onMessage);
      client.addEventListener('message', onMessage); // the same listener is added once
      const handler = {
        handleEvent(this: unknown, e: { data: unknown }) {
          log.push(`object ${e.data} ${this === handler}`);
        },
      };
      client.addEventListener('message', handler, { once: true });
      client.onopen = (e: { type: string }) => log.push(`onopen ${e.type}`);
      client.onmessage = (e: { data: unknown }) => log.push(`onmessage ${e.data}`);
      assert.equal(typeof client.onmessage, 'function');
      client.addEventListener('nonsense', () => log.push('never'));
      const closed = new Promise<{ code: number; reason: string; wasClean: boolean }>((r) => {
        client.onclose = r;
      });
      const ev = await closed;
      assert.deepEqual([ev.code, ev.reason, ev.wasClean], [4000, 'bye', true]);
      assert.deepEqual(log, [
        'onopen open',
        'listener message one true true',
        'object one true',
        'onmessage one',
        'listener message two true true',
        'onmessage two',
      ]);
      client.removeEventListener('message', onMessage);
      // removeEventListener() does not remove what an on<event> attribute holds, even given that handler.
      const attribute = client.onmessage;
      client.removeEventListener('message', attribute);
      assert.equal(client.onmessage, attribute);
      client.onmessage = null;
      assert.deepEqual([client.listenerCount('message'), client.onmessage], [0, null]);
      // A listener and an attribute with the same handler are two: neither is a duplicate of the other.
      const same = (): void => {};
      client.onerror = same;
      client.addEventListener('error', same);
      client.addEventListener('open', same);
      client.onopen = same;
      assert.deepEqual([client.listenerCount('error'), client.listenerCount('open'), client.onopen], [2, 2, same]);
    });

    it('constants on the class and its prototype; url, protocol, extensions; readyState through the life', async (t) => {
      assert.deepEqual(
        [impl.WebSocket.CONNECTING, impl.WebSocket.OPEN, impl.WebSocket.CLOSING, impl.WebSocket.CLOSED],
        [0, 1, 2, 3],
      );
      assert.equal(impl.WebSocket.prototype.CLOSED, 3);
      assert.ok(Object.keys(impl.WebSocket.prototype).includes('readyState'));
      const { port } = await listen(t, impl, { perMessageDeflate: true });
      const client = new impl.WebSocket(`http://127.0.0.1:${port}/a?b=1`);
      assert.deepEqual([client.url, client.readyState, client.protocol], [`ws://127.0.0.1:${port}/a?b=1`, 0, '']);
      await once(client, 'open');
      assert.deepEqual([client.readyState, client.extensions], [1, 'permessage-deflate']);
      client.close();
      assert.equal(client.readyState, 2);
      await once(client, 'close');
      assert.equal(client.readyState, 3);
    });

    it('pause() holds messages back, resume() delivers them in order; allowSynchronousEvents: false too', async (t) => {
      for (const allowSynchronousEvents of [true, false]) {
        const { wss, port } = await listen(t, impl, { allowSynchronousEvents });
        const sent = new Promise<void>((resolve) =>
          wss.on(
            'connection',
            (sws: { send(d: string, cb?: () => void): void; on(e: string, f: () => void): void }) => {
              sws.on('message', () => {
                sws.send('a');
                sws.send('b');
                sws.send('c', () => resolve());
              });
            },
          ),
        );
        const client = new impl.WebSocket(`ws://127.0.0.1:${port}`, { allowSynchronousEvents });
        await once(client, 'open');
        const got: string[] = [];
        client.on('message', (d: Buffer) => got.push(d.toString()));
        client.pause();
        assert.equal(client.isPaused, true);
        client.send('go');
        await sent;
        const beforeResume = got.length;
        client.resume();
        assert.equal(client.isPaused, false);
        while (got.length < 3) await once(client, 'message');
        assert.deepEqual([beforeResume, got], [0, ['a', 'b', 'c']]);
        client.close();
        await once(client, 'close');
      }
    });

    it('createWebSocketStream: a Duplex of messages; end() closes the WebSocket', async (t) => {
      const { wss, port } = await listen(t, impl);
      wss.on(
        'connection',
        (sws: { on(e: string, f: (d: Buffer) => void): void; send(d: Buffer): void; close(): void }) => {
          sws.on('message', (d) =>
            d.toString() === 'end' ? sws.close() : sws.send(Buffer.concat([Buffer.from('>'), d])),
          );
        },
      );
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      const duplex = impl.createWebSocketStream(client, { readableObjectMode: true });
      duplex.write('a');
      duplex.write('b');
      const got: string[] = [];
      for await (const chunk of duplex) {
        got.push(String(chunk)); // binary messages (the server sends Buffers), one chunk each
        if (got.length === 2) duplex.write('end');
      }
      assert.deepEqual(got, ['>a', '>b']);
      assert.equal(client.readyState, 3);
    });

    it("client: 'unexpected-response' or ws's error for a refusal; redirects followed; finishRequest", async (t) => {
      const server = http.createServer();
      t.after(() => server.close());
      const wss = new impl.WebSocketServer({ noServer: true });
      server.on('upgrade', (req, socket, head) => {
        if (req.url === '/forbidden') return void socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
        if (req.url === '/moved')
          return void socket.end('HTTP/1.1 302 Found\r\nLocation: /here\r\nContent-Length: 0\r\n\r\n');
        wss.handleUpgrade(req, socket, head, (ws: { send(d: string): void }) =>
          ws.send(`at ${req.url} ${req.headers['x-extra']}`),
        );
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const port = (server.address() as AddressInfo).port;
      const refused = new impl.WebSocket(`ws://127.0.0.1:${port}/forbidden`);
      const err = await new Promise<Error>((r) => refused.on('error', r));
      assert.equal(err.message, 'Unexpected server response: 403');
      const handled = new impl.WebSocket(`ws://127.0.0.1:${port}/forbidden`);
      const [req, res] = await once(handled, 'unexpected-response');
      assert.equal(res.statusCode, 403);
      req.destroy();
      const noFollow = new impl.WebSocket(`ws://127.0.0.1:${port}/moved`);
      assert.equal(
        (await new Promise<Error>((r) => noFollow.on('error', r))).message,
        'Unexpected server response: 302',
      );
      const follow = new impl.WebSocket(`ws://127.0.0.1:${port}/moved`, {
        followRedirects: true,
        finishRequest: (r: http.ClientRequest) => {
          r.setHeader('X-Extra', 'yes');
          r.end();
        },
      });
      const redirects: string[] = [];
      follow.on('redirect', (url: string) => redirects.push(url));
      const [msg] = await once(follow, 'message');
      assert.deepEqual(
        [msg.toString(), redirects, follow.url],
        ['at /here yes', [`ws://127.0.0.1:${port}/here`], `ws://127.0.0.1:${port}/here`],
      );
      follow.close();
      await once(follow, 'close');
      const bad = (): unknown => new impl.WebSocket('ftp://example.com');
      assert.throws(bad, { name: 'SyntaxError' });
      assert.throws(() => new impl.WebSocket(`ws://127.0.0.1:${port}`, ['a', 'a']), {
        message: 'An invalid or duplicated subprotocol was specified',
      });
    });

    it('ws+unix: URLs reach a server on a Unix socket', async (t) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-compat-'));
      const sock = path.join(dir, 's.sock');
      const server = http.createServer();
      t.after(() => {
        server.close();
        fs.rmSync(dir, { recursive: true, force: true });
      });
      const wss = new impl.WebSocketServer({ server });
      wss.on('connection', (ws: { send(d: string): void }, req: http.IncomingMessage) => ws.send(`unix ${req.url}`));
      server.listen(sock);
      await once(server, 'listening');
      const client = new impl.WebSocket(`ws+unix://${sock}:/p?q`);
      const [msg] = await once(client, 'message');
      assert.equal(msg.toString(), 'unix /p?q');
      client.close();
      await once(client, 'close');
    });

    it('_socket is the net.Socket; _sender.sendFrame queues frames made by ws Sender.frame(), in order', async (t) => {
      const { wss, port } = await listen(t, impl);
      const frame = Sender.frame(Buffer.from('prepared'), {
        fin: true,
        rsv1: false,
        opcode: 1,
        mask: false,
        readOnly: false,
      });
      wss.on(
        'connection',
        (sws: {
          _socket: net.Socket;
          send(d: string): void;
          _sender: { sendFrame(l: Buffer[], cb: (e?: Error) => void): void };
        }) => {
          assert.ok(sws._socket instanceof net.Socket);
          assert.equal(sws._socket.remoteAddress, '127.0.0.1');
          sws.send('before');
          sws._sender.sendFrame(frame, (e) => assert.ok(!e));
          sws.send('after');
        },
      );
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      const got: string[] = [];
      client.on('message', (d: Buffer) => got.push(d.toString()));
      while (got.length < 3) await once(client, 'message');
      assert.deepEqual(got, ['before', 'prepared', 'after']);
      client.close();
      await once(client, 'close');
    });

    it('_sender.sendFrame of the same list again, its Buffers changed in place since, sends the bytes they hold now', async (t) => {
      const { wss, port } = await listen(t, impl);
      const payload = Buffer.from('first');
      const list = Sender.frame(payload, { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false });
      wss.on('connection', (sws: { _sender: { sendFrame(l: Buffer[], cb: (e?: Error) => void): void } }) => {
        sws._sender.sendFrame(list, (e) => {
          assert.ok(!e);
          // Sent: the same list again, its payload (and the header's opcode: binary) rewritten in place.
          payload.write('again');
          list[0]![0] = 0x82;
          sws._sender.sendFrame(list, (e2) => assert.ok(!e2));
        });
      });
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      const got: [boolean, string][] = [];
      client.on('message', (d: Buffer, binary: boolean) => got.push([binary, d.toString()]));
      while (got.length < 2) await once(client, 'message');
      assert.deepEqual(got, [
        [false, 'first'],
        [true, 'again'],
      ]);
      client.close();
      await once(client, 'close');
    });

    it('_sender.sendFrame of the same list again, grown or shortened since, sends the bytes it holds now', async (t) => {
      const { wss, port } = await listen(t, impl);
      const frame = (text: string): Buffer =>
        Buffer.concat(
          Sender.frame(Buffer.from(text), { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false }),
        );
      const [a, b, c] = [frame('a'), frame('b'), frame('c')];
      // Two whole frames in one list, as ws's sendFrame writes a list of two Buffers.
      const list = [a, b];
      wss.on('connection', (sws: { _sender: { sendFrame(l: Buffer[], cb: (e?: Error) => void): void } }) => {
        sws._sender.sendFrame(list, () => {
          list[1] = Buffer.concat([b, c]); // longer than the bytes sent before
          sws._sender.sendFrame(list, () => {
            list.splice(0, 2, a.subarray(0, 1), a.subarray(1)); // the first frame alone: a prefix of those bytes
            sws._sender.sendFrame(list, (e) => assert.ok(!e));
          });
        });
      });
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      const got: string[] = [];
      client.on('message', (d: Buffer) => got.push(d.toString()));
      while (got.length < 6) await once(client, 'message');
      assert.deepEqual(got, ['a', 'b', 'a', 'b', 'c', 'a']);
      client.close();
      await once(client, 'close');
    });

    it('close() again while CLOSING: no second close frame, its arguments not even checked', async (t) => {
      const { wss, port } = await listen(t, impl);
      const codes = new Promise<number[]>((resolve) =>
        wss.on('connection', (s: { on(e: string, f: (code: number) => void): void }) =>
          s.on('close', (c) => resolve([c])),
        ),
      );
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      await once(client, 'open');
      client.close(4001);
      client.close(5); // an invalid code: refused only while OPEN
      client.close(4002);
      const [code] = await once(client, 'close');
      assert.deepEqual([code, await codes], [4001, [4001]]);
    });

    it("close() from an 'upgrade' listener: the connection never opens; 'error' and 'close' 1006 follow", async (t) => {
      const { port } = await listen(t, impl);
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      const events: string[] = [];
      client.on('upgrade', () => {
        events.push('upgrade');
        client.close();
      });
      client.on('open', () => events.push('open'));
      client.on('error', (err: Error) => events.push(`error: ${err.message}`));
      await new Promise<void>((resolve) =>
        client.on('close', (code: number) => {
          events.push(`close ${code}`);
          resolve();
        }),
      );
      assert.deepEqual(events, [
        'upgrade',
        'error: WebSocket was closed before the connection was established',
        'close 1006',
      ]);
      assert.equal(client.readyState, 3);
    });
  });
}

// Not run on ws: its sendFrame writes to the socket whatever the state (a frame after the close frame). Here the
// callback comes as send()'s does on a WebSocket that is not open (doc/ws-compat.md, "Undocumented members").
describe('ws-stream/ws: _sender.sendFrame after close()', () => {
  it("sends nothing; the callback gets send()'s error, after the call returned", async (t) => {
    const { wss, port } = await listen(t, compat);
    const frame = Sender.frame(Buffer.from('late'), {
      fin: true,
      rsv1: false,
      opcode: 1,
      mask: false,
      readOnly: false,
    });
    const answered = new Promise<string[]>((resolve) =>
      wss.on(
        'connection',
        (sws: { close(): void; _sender: { sendFrame(l: Buffer[], cb: (e?: Error) => void): void } }) => {
          const sender = sws._sender; // taken while open
          sws.close();
          const order: string[] = [];
          sender.sendFrame(frame, (e) => {
            order.push(`callback: ${e?.message}`);
            resolve(order);
          });
          order.push('returned');
        },
      ),
    );
    const client = new ws.WebSocket(`ws://127.0.0.1:${port}`);
    const messages: string[] = [];
    client.on('message', (d: Buffer) => messages.push(d.toString()));
    const [code] = await once(client, 'close');
    assert.deepEqual(await answered, ['returned', 'callback: WebSocket is not open: readyState 2 (CLOSING)']);
    assert.deepEqual([code, messages], [1005, []]);
  });
});

describe('the Event classes (WebSocket.Event, CloseEvent, ErrorEvent, MessageEvent)', () => {
  it("made with a type alone: ws's defaults, and the same enumerable properties in the same order", () => {
    const require = createRequire(import.meta.url);
    // ws's own classes (its lib/event-target.js; not exported by its package): what ws's events are made with.
    const wsClasses = require(path.join(path.dirname(require.resolve('ws')), 'lib', 'event-target.js'));
    const shown = (classes: Record<string, new (type: string) => object>): string[] =>
      (['Event', 'CloseEvent', 'ErrorEvent', 'MessageEvent'] as const).map((name) => {
        const event = new classes[name]!(name.toLowerCase());
        const own: Record<string, unknown> = {};
        for (const key in event) own[key] = (event as Record<string, unknown>)[key];
        return JSON.stringify(own);
      });
    assert.deepEqual(shown(compat.WebSocket), shown(wsClasses));
    assert.deepEqual(
      shown(compat.WebSocket)[1],
      '{"code":0,"reason":"","wasClean":false,"target":null,"type":"closeevent"}',
    );
  });
});

describe('loading ws-stream/ws', () => {
  it('require() returns the WebSocket class with its statics (Node ≥ 20.19 loads ESM with require)', () => {
    const require = createRequire(import.meta.url);
    // As require('ws') returns ws's class, so that `const WebSocket = require('ws')` runs where ws is aliased to us.
    const WebSocket = require('../../src/compat/main.js');
    assert.equal(WebSocket, compat.WebSocket);
    for (const name of ['Server', 'WebSocketServer', 'WebSocket', 'createWebSocketStream'])
      assert.equal(typeof WebSocket[name], 'function', name);
    assert.equal(WebSocket.Server, compat.WebSocketServer);
    assert.equal(WebSocket.createWebSocketStream, compat.createWebSocketStream);
    // TypeScript types a CommonJS import by the module's names (index.d.ts): each must be there.
    const names = Object.keys(compatModule);
    assert.ok(names.includes('default') && names.includes('MessageEvent'), names.join(', '));
    for (const name of names) assert.equal(WebSocket[name], (compatModule as Record<string, unknown>)[name], name);
  });

  it("the package's ./ws export resolves to the compat build", () => {
    const require = createRequire(import.meta.url);
    const pkg = require('../../../package.json');
    assert.equal(pkg.exports['./ws'].default, './dist/src/compat/main.js');
    // TypeScript gives an ES module importer the module's declarations and a CommonJS one `export =`
    // the class, as @types/ws's index.d.ts (require.d.cts): asked of TypeScript's own resolver.
    const root = fileURLToPath(new URL('../../../', import.meta.url));
    const resolved = (importer: string, mode: ts.ResolutionMode): string | undefined => {
      const options = { module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16 };
      const r = ts.resolveModuleName(
        'ws-stream/ws',
        path.join(root, importer),
        options,
        ts.sys,
        undefined,
        undefined,
        mode,
      );
      return r.resolvedModule?.resolvedFileName;
    };
    assert.equal(resolved('test/a.mts', ts.ModuleKind.ESNext), path.join(root, 'dist/src/compat/index.d.ts'));
    assert.equal(resolved('test/a.cts', ts.ModuleKind.CommonJS), path.join(root, 'dist/src/compat/require.d.cts'));
    assert.ok(fs.existsSync(new URL('../../../dist/src/compat/main.js', import.meta.url)));
  });

  it('the published declarations use no string export names (TypeScript before 5.6 cannot parse them)', () => {
    const require = createRequire(import.meta.url);
    const pkg = require('../../../package.json');
    const seen: string[] = [];
    const visit = (file: URL): void => {
      if (seen.includes(file.href)) return;
      seen.push(file.href);
      const text = fs.readFileSync(file, 'utf8');
      assert.doesNotMatch(text, /export\s*\{[^}]*\bas\s+['"]/, `${file.pathname} names an export with a string`);
      for (const m of text.matchAll(/from '(\.[^']+)\.js'/g)) visit(new URL(`${m[1]}.d.ts`, file));
    };
    for (const entry of Object.values(pkg.exports) as { types: string | Record<string, string> }[])
      for (const types of typeof entry.types === 'string' ? [entry.types] : Object.values(entry.types))
        visit(new URL(`../../../${types}`, import.meta.url));
    assert.ok(seen.length > 10, `${seen.length} declaration files read`);
  });
});
