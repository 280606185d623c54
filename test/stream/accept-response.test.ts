/**
 * accept()'s 101 and validation on their fast paths (one prebuilt string without a decorator, the
 * optional fields looked up once), and a reset of the next layer: asserted on the bytes the peer
 * saw and on the errors the application saw.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { WebSocketStream, WebSocketError, createTestPair, type StreamOptions } from '../../src/index.js';
import { KEY_ACCEPT, requestObject } from '../support/frames.js';
import { RawPeer } from '../support/peer.js';

function setup(opts: StreamOptions = {}) {
  const [server, client] = createTestPair();
  return { ws: new WebSocketStream(server, opts), peer: new RawPeer(client) };
}

const OFFER = {
  'Sec-WebSocket-Protocol': 'chat, superchat',
  'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits',
};

describe('accept(req): the 101 response', () => {
  it('without a decorator: exactly the bytes a decorator that changes nothing gives', async () => {
    const heads: string[] = [];
    for (const decorator of [undefined, () => {}]) {
      const { ws, peer } = setup({ perMessageDeflate: true });
      await ws.accept(requestObject(OFFER), { selectProtocol: (offered) => offered[1], decorator });
      heads.push((await peer.responseHead()).head);
      assert.equal(ws.protocol, 'superchat');
    }
    assert.equal(heads.length, 2);
    assert.equal(heads[0], heads[1]);
    assert.equal(
      heads[0],
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${KEY_ACCEPT}\r\nSec-WebSocket-Protocol: superchat\r\n` +
        'Sec-WebSocket-Extensions: permessage-deflate',
    );
  });

  it('without a decorator and nothing agreed: the three fields alone', async () => {
    const { ws, peer } = setup();
    await ws.accept(requestObject(OFFER));
    assert.equal(
      (await peer.responseHead()).head,
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${KEY_ACCEPT}`,
    );
    assert.equal(ws.protocol, '');
    assert.equal(ws.extensions, '');
  });

  it('a decorator still edits every field, ours included, with header injection refused (500)', async () => {
    const { ws, peer } = setup();
    await ws.accept(requestObject(), {
      decorator: (h) => {
        delete h.Connection;
        h.Connection = 'upgrade';
        h.Server = 'test';
      },
    });
    const { head } = await peer.responseHead();
    assert.match(head, /\r\nSec-WebSocket-Accept: [^\r]+\r\nConnection: upgrade\r\nServer: test$/);
    const bad = setup();
    await assert.rejects(
      bad.ws.accept(requestObject(), { decorator: (h) => void (h.Server = 'a\r\nX-Injected: 1') }),
      (e: WebSocketError) => e.code === 'ERR_WS_INVALID_ARGUMENT',
    );
    const refused = await bad.peer.responseHead();
    assert.equal(refused.status, 500);
    assert.doesNotMatch(refused.head, /X-Injected/);
  });

  it('a decorator that puts a field before Sec-WebSocket-Accept: the fields in its order, each once', async () => {
    const { ws, peer } = setup();
    await ws.accept(requestObject(), {
      decorator: (h) => {
        const accept = h['Sec-WebSocket-Accept']!;
        delete h['Sec-WebSocket-Accept'];
        h.Server = 'test';
        h['Sec-WebSocket-Accept'] = accept;
      },
    });
    assert.equal(
      (await peer.responseHead()).head,
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nServer: test\r\n' +
        `Sec-WebSocket-Accept: ${KEY_ACCEPT}`,
    );
  });
});

describe('accept(req): validation', () => {
  it('finds the optional fields of a plain request in any case', async () => {
    const req = requestObject();
    const headers: Record<string, string> = { ...req.headers, 'Sec-WebSocket-Protocol': 'chat' };
    const { ws, peer } = setup();
    await ws.accept({ ...req, headers }, { selectProtocol: (offered) => offered[0] });
    assert.match((await peer.responseHead()).head, /\r\nSec-WebSocket-Protocol: chat$/);
    assert.equal(ws.protocol, 'chat');
  });

  it('an absent httpVersion counts as 1.1; 1.0 and junk are refused 400', async () => {
    const { httpVersion: _, ...noVersion } = requestObject();
    const ok = setup();
    await ok.ws.accept(noVersion);
    assert.equal((await ok.peer.responseHead()).status, 101);
    for (const httpVersion of ['1.0', '1.1 ', 'x']) {
      const { ws, peer } = setup();
      await assert.rejects(
        ws.accept({ ...requestObject(), httpVersion }),
        (e: WebSocketError) => e.code === 'ERR_WS_BAD_HTTP_VERSION',
      );
      assert.equal((await peer.responseHead()).status, 400);
    }
  });
});

describe('a reset of the next layer (TCP RST) after accept', () => {
  /** A server stream over a real TCP connection whose client resets it once the 101 arrived. */
  async function resetAfterOpen(watch: (ws: WebSocketStream) => void): Promise<WebSocketStream> {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const accepted = once(server, 'connection');
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    client.on('error', () => {});
    const [socket] = (await accepted) as [net.Socket];
    server.close();
    const ws = new WebSocketStream(socket);
    const opened = ws.accept();
    client.write(
      `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${requestObject().headers['sec-websocket-key']}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    await opened;
    watch(ws);
    let got = '';
    client.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n')) client.resetAndDestroy();
    });
    return ws;
  }

  const isReset = (e: unknown): boolean =>
    e instanceof WebSocketError &&
    e.code === 'ERR_WS_NEXT_LAYER' &&
    (e.cause as NodeJS.ErrnoException | undefined)?.code === 'ECONNRESET';

  it('a pending read fails with ERR_WS_NEXT_LAYER and the reset as its cause, as closeInfo says', async () => {
    let read: Promise<unknown> | undefined;
    const ws = await resetAfterOpen((s) => {
      read = s.read().then(
        () => assert.fail('a read succeeded'),
        (e: unknown) => e,
      );
    });
    const err = await read!;
    assert.ok(isReset(err), String(err));
    const info = await ws.whenClosed();
    assert.equal(info.error, err);
    assert.equal(info.code, 1006);
    assert.equal(ws.closeInfo?.error, err);
  });

  it('with no read pending, whenClosed, closeInfo and later operations report the same error', async () => {
    let closed: Promise<unknown> | undefined;
    const ws = await resetAfterOpen((s) => {
      closed = s.whenClosed();
    });
    const info = (await closed) as { error?: unknown; wasClean: boolean };
    assert.ok(isReset(info.error), String(info.error));
    assert.equal(info.wasClean, false);
    assert.equal(ws.closeInfo?.error, info.error);
    await assert.rejects(ws.write('late'), (e) => e === info.error);
    await assert.rejects(ws.read(), (e) => e === info.error);
    await assert.rejects(ws.close(), (e) => e === info.error);
  });
});
