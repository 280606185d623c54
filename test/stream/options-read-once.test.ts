/**
 * Each option of a call is read once: a getter (or a Proxy) may answer differently each time, and
 * what a call checked must be what it uses. write() checked `signal` on one read and used a second
 * one; connect() and handshake() read every option once to check it and again to use it (the
 * headers' values too, after the socket was connected); accept() read `signal` and `head` twice;
 * rejectUpgrade() its `body` up to five times; StreamGroup.shutdown() its `server` twice.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import {
  StreamGroup,
  WebSocketStream,
  computeAccept,
  connect,
  createTestPair,
  rejectUpgrade,
  type WebSocketError,
} from '../../src/index.js';
import { closeFrame, requestObject, text } from '../support/frames.js';
import { openServer } from '../support/open.js';
import { RawPeer } from '../support/peer.js';

/** `values` as getters that count their reads (`answers[k]`, when given, answers each read in turn). */
function counted<T extends object>(values: T, answers: { [K in keyof T]?: T[K][] } = {}) {
  const reads: Record<string, number> = {};
  const options = {} as T;
  for (const k of Object.keys(values) as (keyof T & string)[]) {
    reads[k] = 0;
    Object.defineProperty(options, k, {
      enumerable: true,
      get() {
        const list = answers[k];
        const n = reads[k]++;
        return list === undefined ? values[k] : list[Math.min(n, list.length - 1)];
      },
    });
  }
  return { options, reads };
}

/** Every one of `reads` is 1. */
function readOnce(reads: Record<string, number>): void {
  assert.deepEqual(reads, Object.fromEntries(Object.keys(reads).map((k) => [k, 1])));
}

const aborted = AbortSignal.abort();
const live = (): AbortSignal => new AbortController().signal;

describe('each option of a call is read once', () => {
  it('write, writeSome, ping, pong and close: every option once, and the frames are what they said', async () => {
    const { ws, peer } = await openServer();
    const w = counted({ binary: true, compress: false, signal: live() });
    await ws.write('w', w.options);
    const ws1 = counted({ fin: true, binary: false, compress: false, signal: live() });
    await ws.writeSome('s', ws1.options);
    const pi = counted({ afterMessages: false, signal: live() });
    await ws.ping('p', pi.options);
    const po = counted({ afterMessages: true, signal: live() });
    await ws.pong('q', po.options);
    const cl = counted({ code: 4000, reason: 'bye', signal: live() });
    const closed = ws.close(cl.options);
    const frames = await peer.waitFrames(5);
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.payload.toString('latin1')]),
      [
        [2, 'w'],
        [1, 's'],
        [9, 'p'],
        [10, 'q'],
        [8, '\x0f\xa0bye'],
      ],
    );
    peer.send(closeFrame(4000));
    await closed;
    for (const { reads } of [w, ws1, pi, po, cl]) readOnce(reads);
  });

  it('read and readSome: the signal once', async () => {
    const { ws, peer } = await openServer();
    peer.send(text('one'));
    peer.send(text('two'));
    const r = counted({ signal: live() });
    assert.equal((await ws.read(r.options)).data.toString(), 'one');
    const rs = counted({ signal: live() });
    assert.equal((await ws.readSome(rs.options)).data.toString(), 'two');
    readOnce(r.reads);
    readOnce(rs.reads);
  });

  for (const call of ['write', 'writeSome', 'ping', 'pong'] as const) {
    // (A part of a message cannot be withdrawn: writeSome's goes out, and the abort only stops the wait.)
    const sent = call === 'writeSome' ? ['lost', 'next'] : ['next'];
    it(`${call}: a signal aborted at its first read and absent at the next is the one used (ERR_WS_ABORTED; sent: ${sent.join(', ')})`, async () => {
      const { ws, peer } = await openServer();
      const { options, reads } = counted(
        { signal: aborted as AbortSignal | undefined },
        { signal: [aborted, undefined] },
      );
      const start = ws[call] as (data: string, options: object) => Promise<void>;
      await assert.rejects(start.call(ws, 'lost', options), { code: 'ERR_WS_ABORTED' });
      readOnce(reads);
      // The stream goes on: what the peer gets ends with the next call's frame.
      await ws.write('next');
      const frames = await peer.waitFrames(sent.length);
      assert.deepEqual(
        frames.map((f) => f.payload.toString()),
        sent,
      );
    });
  }

  it('close: a signal aborted at its first read and absent at the next aborts it (no close frame sent)', async () => {
    const { ws, peer } = await openServer();
    const { options, reads } = counted(
      { code: 1000, signal: aborted as AbortSignal | undefined },
      { signal: [aborted, undefined] },
    );
    await assert.rejects(ws.close(options), { code: 'ERR_WS_ABORTED' });
    await peer.waitClosed();
    assert.deepEqual(peer.frames(), []);
    readOnce(reads);
  });

  it('accept: signal, head, selectProtocol, decorator and the limits once; the 101 carries what they said', async () => {
    const [server, client] = createTestPair();
    const ws = new WebSocketStream(server);
    const peer = new RawPeer(client);
    const { options, reads } = counted({
      signal: live(),
      head: Buffer.alloc(0),
      selectProtocol: (offered: string[]) => offered[1]!,
      decorator: (h: Record<string, string | string[]>) => {
        h['X-Decorated'] = 'yes';
      },
      maxHeaderBytes: 4096,
      maxHeaders: 50,
    });
    await ws.accept(requestObject({ 'Sec-WebSocket-Protocol': 'a, b' }), options);
    const { status, head } = await peer.responseHead();
    assert.equal(status, 101);
    assert.match(head, /\r\nSec-WebSocket-Protocol: b\r\n/i);
    assert.match(head, /\r\nX-Decorated: yes/i);
    readOnce(reads);
  });

  it('accept reading the request itself: a signal absent at its first read and aborted at the next is not taken', async () => {
    const [server, client] = createTestPair();
    const ws = new WebSocketStream(server);
    const peer = new RawPeer(client);
    const { options, reads } = counted(
      { signal: undefined as AbortSignal | undefined },
      { signal: [undefined, aborted] },
    );
    const accepted = ws.accept(options);
    client.write(
      'GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    await accepted;
    assert.equal((await peer.responseHead()).status, 101);
    readOnce(reads);
  });

  it('handshake: host, target, protocols, headers, decorator, maxHeaderBytes and signal once; the request says what they said', async () => {
    const [a, b] = createTestPair();
    const ws = new WebSocketStream(a);
    const server = new RawPeer(b);
    const headers = counted({ Origin: 'http://first' }, { Origin: ['http://first', 'http://second'] });
    const { options, reads } = counted(
      {
        host: 'example.com',
        target: '/t',
        protocols: ['chat'],
        headers: headers.options as Record<string, string>,
        decorator: (h: Record<string, string | string[]>) => {
          h['X-Decorated'] = 'yes';
        },
        maxHeaderBytes: 4096,
        signal: live(),
      },
      { host: ['example.com', 'other.example'] },
    );
    const opened = ws.handshake(options);
    const request = await server.until(() => {
      const s = server.received.toString('latin1');
      return s.includes('\r\n\r\n') ? s : undefined;
    });
    assert.match(request, /^GET \/t HTTP\/1\.1\r\n/);
    assert.match(request, /\r\nHost: example\.com\r\n/);
    assert.match(request, /\r\nOrigin: http:\/\/first\r\n/);
    assert.match(request, /\r\nSec-WebSocket-Protocol: chat\r\n/);
    assert.match(request, /\r\nX-Decorated: yes\r\n/);
    const key = /Sec-WebSocket-Key: (\S+)/i.exec(request)![1]!;
    b.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${computeAccept(key)}\r\nSec-WebSocket-Protocol: chat\r\n\r\n`,
    );
    await opened;
    assert.equal(ws.protocol, 'chat');
    readOnce(reads);
    readOnce(headers.reads);
  });

  it('rejectUpgrade: headers, body, decorator and lingerTimeout once; the response says what they said', async () => {
    const [layer, client] = createTestPair();
    const peer = new RawPeer(client);
    const { options, reads } = counted(
      {
        headers: { 'X-Why': 'closed' } as Record<string, string>,
        body: 'first' as string | Uint8Array,
        decorator: (h: Record<string, string | string[]>) => {
          h['X-Decorated'] = 'yes';
        },
        lingerTimeout: 0,
      },
      { body: ['first', new Uint8Array([0x73, 0x65, 0x63, 0x6f, 0x6e, 0x64, 0x21])] },
    );
    await rejectUpgrade(layer, 403, options);
    await peer.waitClosed();
    const response = peer.received.toString('latin1');
    assert.match(response, /^HTTP\/1\.1 403 /);
    assert.match(response, /\r\nX-Why: closed\r\n/);
    assert.match(response, /\r\nX-Decorated: yes\r\n/);
    assert.match(response, /\r\nContent-Length: 5\r\n/);
    assert.ok(response.endsWith('\r\n\r\nfirst'), response);
    readOnce(reads);
  });

  it('StreamGroup.shutdown: server, code, reason and deadline once; the server closed is the one checked', async () => {
    const { ws, peer } = await openServer();
    const group = new StreamGroup();
    group.add(ws);
    const closed: string[] = [];
    const { options, reads } = counted(
      {
        server: { close: () => closed.push('first') } as { close(): unknown } | undefined,
        code: 4001,
        reason: 'bye',
        deadline: 60_000,
      },
      { server: [{ close: () => closed.push('first') }, undefined] },
    );
    const done = group.shutdown(options);
    const [close] = await peer.waitFrames(1);
    assert.equal(close!.opcode, 8);
    assert.equal(close!.payload.readUInt16BE(0), 4001);
    assert.equal(close!.payload.subarray(2).toString(), 'bye');
    peer.send(closeFrame(4001));
    await done;
    assert.deepEqual(closed, ['first']);
    readOnce(reads);
  });

  /** A loopback server that accepts one WebSocket and hands over the request it got. */
  async function server(t: TestContext): Promise<{ port: number; request: Promise<string> }> {
    let got: (s: string) => void;
    const request = new Promise<string>((resolve) => {
      got = resolve;
    });
    const sockets = new Set<net.Socket>();
    const srv = net.createServer((socket) => {
      sockets.add(socket);
      const ws = new WebSocketStream(socket);
      void ws.accept().catch(() => {});
      let head = '';
      socket.on('data', (d: Buffer) => {
        head += d.toString('latin1');
        if (head.includes('\r\n\r\n')) got(head);
      });
    });
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    t.after(() => {
      for (const s of sockets) s.destroy();
      srv.close();
    });
    return { port: (srv.address() as net.AddressInfo).port, request };
  }

  it('connect: every option once (the headers object too); the request carries the first answers', async (t) => {
    const { port, request } = await server(t);
    const headers = counted({ 'X-Token': 'first' }, { 'X-Token': ['first', 'second\r\nX-Injected: 1'] });
    const { options, reads } = counted(
      {
        protocols: ['chat'] as string[] | undefined,
        headers: headers.options as Record<string, string>,
        decorator: (h: Record<string, string | string[]>) => {
          h['X-Decorated'] = 'yes';
        },
        connectTimeout: 60_000,
        signal: live() as AbortSignal | undefined,
        http2: false,
        rejectUnauthorized: true,
        closeTimeout: 5000,
        perMessageDeflate: false,
      },
      { protocols: [['chat'], ['other']], signal: [undefined, aborted] },
    );
    const ws = await connect(`ws://127.0.0.1:${port}/`, options).catch((e: WebSocketError) => {
      assert.fail(`connect failed: ${e.code} ${e.message}`);
    });
    t.after(() => ws.nextLayer.destroy());
    const head = await request;
    assert.match(head, /\r\nX-Token: first\r\n/);
    assert.doesNotMatch(head, /X-Injected/);
    assert.match(head, /\r\nSec-WebSocket-Protocol: chat\r\n/);
    assert.match(head, /\r\nX-Decorated: yes\r\n/);
    readOnce(reads);
    readOnce(headers.reads);
  });
});
