/**
 * After a failed handshake the stream is closed, not "handshaking": every operation fails at once with the
 * handshake's error, which whenClosed() reports too. Real sockets on 127.0.0.1; the socket is destroyed by the
 * decorator, so the handshake's own write (the 101, the request) is what fails.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import {
  type ClientHandshakeError,
  type CloseInfo,
  StreamGroup,
  WebSocketStream,
  type WebSocketError,
  computeAccept,
  createTestPair,
} from '../../src/index.js';
import { KEY, requestHead, requestObject } from '../support/frames.js';
import { response101 } from '../support/hostile.js';
import { DrivenLayer } from '../support/driven-layer.js';
import { ca, connectHeaders, h2Server } from '../support/h2-server.js';
import { closedEvenIfReset, delivered } from '../support/peer.js';

const server = net.createServer();
after(() => server.close());
const listening = new Promise<number>((resolve) =>
  server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
);

/** A connected pair of real sockets: [ours (the server's side), the peer's]. */
async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const port = await listening;
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const peer = net.connect(port, '127.0.0.1');
  peer.on('error', () => {});
  return [await accepted, peer];
}

/** Every operation's error code, once the failed handshake has completed. */
async function operationCodes(ws: WebSocketStream): Promise<string[]> {
  const results = await Promise.allSettled([
    ws.read(),
    ws.readSome(),
    ws.write('x'),
    ws.ping(),
    ws.close(),
    ws.accept(requestObject()),
    ws.handshake({ host: 'localhost' }),
  ]);
  return results.map((r) => (r.status === 'rejected' ? (r.reason as WebSocketError).code : 'fulfilled'));
}

describe('a failed handshake leaves the stream closed', () => {
  it('accept(): the 101 cannot go out (socket destroyed): operations fail with its error, not "in progress"', async () => {
    const [socket, peer] = await socketPair();
    const ws = new WebSocketStream(socket);
    const err = await ws.accept(requestObject(), { decorator: () => socket.destroy() }).then(
      () => assert.fail('accept() succeeded on a destroyed socket'),
      (e: WebSocketError) => e,
    );
    assert.equal(err.code, 'ERR_WS_NEXT_LAYER');
    const codes = await operationCodes(ws);
    assert.deepEqual(codes.slice(0, 5), Array(5).fill('ERR_WS_NEXT_LAYER'));
    assert.equal(codes[5], 'ERR_WS_INVALID_STATE', 'a second accept() is refused: the handshake was done');
    const info = await ws.whenClosed();
    assert.equal(info.code, 1006);
    assert.equal(info.error?.code, 'ERR_WS_NEXT_LAYER');
    assert.equal(ws.isOpen, false);
    peer.destroy();
  });

  it('handshake(): the request cannot go out (socket destroyed): operations fail with its error, not "in progress"', async () => {
    const [socket, peer] = await socketPair();
    const ws = new WebSocketStream(peer);
    const err = await ws.handshake({ host: 'localhost', decorator: () => peer.destroy() }).then(
      () => assert.fail('handshake() succeeded on a destroyed socket'),
      (e: WebSocketError) => e,
    );
    // Which error depends on which the socket tells first (its close, or the failed write): the same one after.
    assert.ok(err.code === 'ERR_WS_NEXT_LAYER' || err.code === 'ERR_WS_EOF', err.code);
    const codes = await operationCodes(ws);
    assert.deepEqual(codes.slice(0, 5), Array(5).fill(err.code));
    const info = await ws.whenClosed();
    assert.equal(info.code, 1006);
    assert.equal(info.error?.code, err.code);
    socket.destroy();
  });
});

const tlsKey = readFileSync(new URL('../../../test/fixtures/key.pem', import.meta.url));
const tlsCert = readFileSync(new URL('../../../test/fixtures/cert.pem', import.meta.url));

/**
 * A connected TLS pair over real sockets: the server's side and the client's, each with the TCP socket under it
 * (to reset the connection under TLS).
 */
interface TlsPair {
  server: tls.TLSSocket;
  client: tls.TLSSocket;
  rawServer: net.Socket;
  rawClient: net.Socket;
}
async function tlsPair(): Promise<TlsPair> {
  const [rawServer, rawClient] = await socketPair();
  rawServer.on('error', () => {});
  const server = new tls.TLSSocket(rawServer, { isServer: true, key: tlsKey, cert: tlsCert });
  const client = tls.connect({ socket: rawClient, rejectUnauthorized: false });
  client.on('error', () => {});
  await Promise.all([once(server, 'secure'), once(client, 'secureConnect')]);
  return { server, client, rawServer, rawClient };
}

/** What the stream says within its failed handshake's callback: before its layer's 'close' can have been seen. */
interface SeenAtFailure {
  err: WebSocketError | null;
  info: CloseInfo | undefined;
  destroyed: boolean;
  /** How many streams the group holding it holds. */
  grouped: number;
  codes: Promise<string[]>;
}

/**
 * Runs a handshake of `ws` with a callback (`start`), the stream added to a StreamGroup as a server adds it, and takes
 * what the stream (and the group) say within that callback.
 */
function seenAtFailure(
  ws: WebSocketStream,
  start: (cb: (err: WebSocketError | null) => void) => void,
): Promise<SeenAtFailure> {
  const group = new StreamGroup();
  return new Promise((resolve) => {
    start((err) =>
      resolve({
        err,
        info: ws.closeInfo,
        destroyed: ws.nextLayer.destroyed,
        grouped: group.size,
        codes: operationCodes(ws),
      }),
    );
    group.add(ws);
  });
}

/** The events the stream listens to on a Duplex ('finish' too once it ends the layer: node's http2 adds its own there). */
const layerEvents = ['data', 'end', 'close', 'readable'] as const;
const listenersOf = (d: Duplex): number[] => layerEvents.map((e) => d.listenerCount(e));

/**
 * Opens a stream on `duplex` (whenClosed() asked before the handshake, as a server's bookkeeping does), runs the
 * handshake `start` while `act` makes the peer end or reset the connection, and checks that the stream was given up
 * as the callback came: every operation fails with the handshake's `code`, a second handshake is
 * ERR_WS_INVALID_STATE, closeInfo is set (1006) and whenClosed() resolves with it, the layer is destroyed, none of
 * the stream's listeners is left on it, and it closes.
 */
async function checkGivenUp(
  what: string,
  layer: Duplex | DrivenLayer,
  code: string,
  start: (ws: WebSocketStream, cb: (err: WebSocketError | null) => void) => void,
  act: () => void,
): Promise<void> {
  const duplex = layer instanceof DrivenLayer ? null : layer;
  const baseline = duplex && listenersOf(duplex);
  const ws = new WebSocketStream(layer);
  const closedBefore = ws.whenClosed();
  const seenP = seenAtFailure(ws, (cb) => start(ws, cb));
  act();
  const seen = await seenP;
  assert.equal(seen.err?.code, code, what);
  assert.deepEqual(
    seen.info && [seen.info.initiatedBy, seen.info.code, seen.info.wasClean, seen.info.error],
    ['abnormal', 1006, false, seen.err],
    `${what}: closeInfo is the handshake's failure within its callback`,
  );
  assert.equal(seen.destroyed, true, `${what}: the layer is destroyed within the callback`);
  assert.equal(seen.grouped, 0, `${what}: the stream left its group`);
  assert.deepEqual(
    await seen.codes,
    [...Array(5).fill(code), 'ERR_WS_INVALID_STATE', 'ERR_WS_INVALID_STATE'],
    `${what}: read, readSome, write, ping, close fail with the handshake's error; accept and handshake are refused`,
  );
  const [before, after] = await Promise.all([closedBefore, ws.whenClosed()]);
  assert.equal(before, seen.info, `${what}: whenClosed() asked before the handshake resolves with closeInfo`);
  assert.equal(after, seen.info, `${what}: and so does one asked after`);
  assert.equal(ws.isOpen, false);
  if (duplex === null) return;
  assert.deepEqual(listenersOf(duplex), baseline, `${what}: the stream left no listener on the layer`);
  if (!duplex.closed) await closedEvenIfReset(duplex);
}

/**
 * `from` writes `bytes` to `to`, and once `to` has read them (its stream has), `tcp` (under `from`) is reset: a reset
 * written right behind them may reach `to` as a FIN.
 */
function resetAfter(to: Duplex, from: Duplex, bytes: string, tcp: net.Socket): void {
  void delivered(to, bytes.length).then(() => tcp.resetAndDestroy());
  from.write(bytes);
}

/** A client's handshake() with a callback. */
const handshakeWith = (ws: WebSocketStream, cb: (err: WebSocketError | null) => void): void =>
  ws.handshake({ host: 'localhost' }, cb);
/** A server's accept() reading the request, with a callback. */
const acceptWith = (ws: WebSocketStream, cb: (err: WebSocketError | null) => void): void => ws.accept(cb);

const head = requestHead();
const answer = response101(computeAccept(KEY));

describe('the peer ends or resets the connection while the request or the 101 is read: the stream is given up at once', () => {
  it('accept() over TCP: a FIN before any byte, a FIN in the request, a reset in the request', async () => {
    for (const [what, act, code] of [
      ['FIN before any byte', (p: net.Socket) => p.end(), 'ERR_WS_EOF'],
      ['FIN in the request', (p: net.Socket) => p.end(head.slice(0, 40)), 'ERR_WS_EOF'],
      [
        'reset in the request',
        (p: net.Socket, s: net.Socket) => resetAfter(s, p, head.slice(0, 40), p),
        'ERR_WS_NEXT_LAYER',
      ],
    ] as const) {
      const [socket, peer] = await socketPair();
      await checkGivenUp(what, socket, code, acceptWith, () => act(peer, socket));
      peer.destroy();
    }
  });

  it('handshake() over TCP: a FIN before the answer, a FIN in the 101, a reset', async () => {
    for (const [what, act, code] of [
      ['FIN before the answer', (s: net.Socket) => s.end(), 'ERR_WS_EOF'],
      ['FIN in the 101', (s: net.Socket) => s.end(answer.slice(0, 50)), 'ERR_WS_EOF'],
      [
        'reset in the 101',
        (s: net.Socket, p: net.Socket) => resetAfter(p, s, answer.slice(0, 50), s),
        'ERR_WS_NEXT_LAYER',
      ],
    ] as const) {
      const [socket, peer] = await socketPair();
      socket.on('error', () => {});
      // The server acts once the request came: the client is reading the 101 then.
      await checkGivenUp(what, peer, code, handshakeWith, () => socket.once('data', () => act(socket, peer)));
      socket.destroy();
    }
  });

  it('accept() and handshake() over TLS: the peer ends TLS in the head, or the TCP connection under it is reset', async () => {
    for (const [what, act, code] of [
      ['close_notify and FIN in the request', (p: TlsPair) => p.client.end(head.slice(0, 40)), 'ERR_WS_EOF'],
      [
        'TCP reset under TLS',
        (p: TlsPair) => resetAfter(p.server, p.client, head.slice(0, 40), p.rawClient),
        'ERR_WS_NEXT_LAYER',
      ],
    ] as const) {
      const pair = await tlsPair();
      await checkGivenUp(`accept(): ${what}`, pair.server, code, acceptWith, () => act(pair));
      pair.client.destroy();
    }
    for (const [what, act, code] of [
      ['close_notify and FIN in the 101', (p: TlsPair) => p.server.end(answer.slice(0, 50)), 'ERR_WS_EOF'],
      [
        'TCP reset under TLS',
        (p: TlsPair) => resetAfter(p.client, p.server, answer.slice(0, 50), p.rawServer),
        'ERR_WS_NEXT_LAYER',
      ],
    ] as const) {
      const pair = await tlsPair();
      pair.server.on('error', () => {});
      await checkGivenUp(`handshake(): ${what}`, pair.client, code, handshakeWith, () =>
        pair.server.once('data', () => act(pair)),
      );
      pair.server.destroy();
    }
  });

  it('the test layer: every read of the request or of the 101 failing in turn, and the peer ending in them', async () => {
    const readSize = 16;
    for (const [role, bytes] of [
      ['accept()', head],
      ['handshake()', answer],
    ] as const) {
      const reads = Math.ceil(bytes.length / readSize);
      for (let n = 1; n <= reads; n++) {
        const [ours, theirs] = createTestPair({ failReadAt: n, readSize });
        const send = (): void => void theirs.write(bytes);
        // A client's peer answers once the request came; a server's sends its request at once.
        const act = role === 'accept()' ? send : () => theirs.once('data', send);
        await checkGivenUp(
          `${role}, read ${n} of ${reads} fails`,
          ours,
          'ERR_WS_NEXT_LAYER',
          role === 'accept()' ? acceptWith : handshakeWith,
          act,
        );
      }
      const [ours, theirs] = createTestPair({ readSize });
      const cut = (): void => void theirs.end(bytes.slice(0, 40));
      await checkGivenUp(
        `${role}, the peer ends in the head`,
        ours,
        'ERR_WS_EOF',
        role === 'accept()' ? acceptWith : handshakeWith,
        role === 'accept()' ? cut : () => theirs.once('data', cut),
      );
    }
  });
});

/** A custom next layer whose writes are handed on only when the test says (`release`): a peer that does not read. */
class HeldLayer extends DrivenLayer {
  private readonly held: ((err?: Error | null) => void)[] = [];
  override write(chunks: Buffer[], cb: (err?: Error | null) => void): void {
    this.written.push(Buffer.concat(chunks));
    this.held.push(cb);
  }
  release(): void {
    for (const cb of this.held.splice(0)) cb(null);
  }
}

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('no other way leaves a stream "handshaking" after its handshake ended', () => {
  it('a custom layer that tells the peer\'s end and no close: given up at once (it said "in progress" for good)', async () => {
    const server = new DrivenLayer();
    await checkGivenUp('accept()', server, 'ERR_WS_EOF', acceptWith, () => {
      server.deliver(Buffer.from(head.slice(0, 40)));
      server.sink!.onEnd();
    });
    const client = new DrivenLayer();
    await checkGivenUp('handshake()', client, 'ERR_WS_EOF', handshakeWith, () =>
      queueMicrotask(() => client.sink!.onEnd()),
    );
  });

  it('accept() over an HTTP/2 stream the client reset before the answer: given up at once', async (t) => {
    let checked!: (check: Promise<void>) => void;
    const done = new Promise<void>((resolve) => {
      checked = resolve;
    });
    // accept() as the reset is known (the stream 'aborted'), before its 'close'.
    const port = await h2Server(t, (stream, headers) =>
      stream.once('aborted', () =>
        checked(
          checkGivenUp(
            'reset before the answer',
            stream,
            'ERR_WS_NEXT_LAYER',
            (ws, cb) => ws.accept({ headers }, cb),
            () => {},
          ),
        ),
      ),
    );
    const session = http2.connect(`https://localhost:${port}`, { ca });
    session.on('error', () => {});
    t.after(() => session.destroy());
    const req = session.request(connectHeaders(port));
    req.on('error', () => {});
    req.close(http2.constants.NGHTTP2_CANCEL);
    await done;
  });

  it('the deadline passing while the 101 is handed on: accept() fails with ERR_WS_TIMEOUT, as the stream says', async () => {
    const layer = new HeldLayer();
    const ws = new WebSocketStream(layer, { handshakeTimeout: 50 });
    const accepting = ws.accept(requestObject());
    const info = await ws.whenClosed(); // the deadline gave the stream up
    assert.equal(info.error?.code, 'ERR_WS_TIMEOUT');
    assert.equal(layer.destroyed, true);
    assert.equal(layer.written.length, 1, 'the 101 was being handed on');
    layer.release(); // it went after all: too late
    await assert.rejects(accepting, { code: 'ERR_WS_TIMEOUT' });
    assert.equal(ws.isOpen, false);
    await assert.rejects(ws.write('x'), { code: 'ERR_WS_TIMEOUT' });
  });

  /** A client stream whose server refuses with a body that stops half-way, and how often its layer was destroyed. */
  async function refusedHalfWay(options: { handshakeTimeout: number }, signal?: AbortSignal) {
    const [ours, theirs] = createTestPair();
    const counted = { destroys: 0 };
    const destroy = ours.destroy.bind(ours);
    ours.destroy = (err?: Error) => {
      counted.destroys++;
      return destroy(err);
    };
    const ws = new WebSocketStream(ours, options);
    const handshaking = ws.handshake({ host: 'localhost', signal });
    theirs.once('data', () => theirs.write('HTTP/1.1 401 Unauthorized\r\nContent-Length: 100\r\n\r\npart of it'));
    await delivered(ours, 10); // the body's first bytes: the refusal's head was read
    return { ws, ours, handshaking, counted };
  }

  it("the signal aborting while a refusal's body is read: ERR_WS_ABORTED at once, no timer left, the layer destroyed once", async () => {
    const before = timers();
    const abort = new AbortController();
    const { ws, ours, handshaking, counted } = await refusedHalfWay({ handshakeTimeout: 0 }, abort.signal);
    abort.abort();
    await assert.rejects(handshaking, { code: 'ERR_WS_ABORTED' });
    assert.equal(timers(), before, `timers left: ${process.getActiveResourcesInfo().join(', ')}`);
    assert.equal(ws.closeInfo?.error?.code, 'ERR_WS_ABORTED');
    if (!ours.closed) await closedEvenIfReset(ours);
    assert.equal(counted.destroys, 1);
  });

  it("the deadline passing while a refusal's body is read: ERR_WS_UPGRADE_DECLINED with what came, the layer destroyed once", async () => {
    const { ws, ours, handshaking, counted } = await refusedHalfWay({ handshakeTimeout: 100 });
    const err = await handshaking.then(
      () => assert.fail('handshake() succeeded on a refusal'),
      (e: ClientHandshakeError) => e,
    );
    assert.equal(err.code, 'ERR_WS_UPGRADE_DECLINED');
    assert.equal(err.response?.body.toString(), 'part of it');
    assert.equal(ws.closeInfo?.error, err);
    if (!ours.closed) await closedEvenIfReset(ours);
    assert.equal(counted.destroys, 1);
  });
});
