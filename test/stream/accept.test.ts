/** The contract of accept (DESIGN.md), on the test layer: each point asserted on the bytes the peer saw. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  WebSocketStream,
  WebSocketError,
  createTestPair,
  type ErrorCode,
  type UpgradeRequest,
} from '../../src/index.js';
import { KEY, KEY_ACCEPT, requestHead, requestObject, text, ping } from '../support/frames.js';
import { RawPeer } from '../support/peer.js';

function setup(opts: Parameters<typeof createTestPair>[0] = {}) {
  const [server, client] = createTestPair(opts);
  return { ws: new WebSocketStream(server), peer: new RawPeer(client), server, client };
}

/** Lets the ticks, microtasks and immediates queued so far run. */
const turns = () => new Promise((r) => setImmediate(() => setImmediate(r)));

describe('accept(req): a valid request', () => {
  it('answers 101 with the RFC 6455 §4.2.2 Sec-WebSocket-Accept, Upgrade and Connection', async () => {
    const { ws, peer } = setup();
    await ws.accept(requestObject());
    const { status, head } = await peer.responseHead();
    assert.equal(status, 101);
    assert.match(head, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.match(head, /\r\nUpgrade: websocket(\r\n|$)/);
    assert.match(head, /\r\nConnection: Upgrade(\r\n|$)/);
    assert.match(head, new RegExp(`\\r\\nSec-WebSocket-Accept: ${KEY_ACCEPT.replace(/[+/]/g, '\\$&')}(\\r\\n|$)`));
    assert.doesNotMatch(head, /Sec-WebSocket-Protocol/);
    assert.equal(ws.isOpen, true);
  });

  it('takes token lists in any case and order: "keep-alive, Upgrade", "WebSocket"', async () => {
    const { ws, peer } = setup();
    await ws.accept(requestObject({ Connection: 'keep-alive, Upgrade', Upgrade: 'h2c, WebSocket' }));
    assert.equal((await peer.responseHead()).status, 101);
  });

  it('accepts HTTP versions above 1.1', async () => {
    const { ws, peer } = setup();
    await ws.accept({ ...requestObject(), httpVersion: '1.2' });
    assert.equal((await peer.responseHead()).status, 101);
  });

  it('completes exactly once, never from within the call (callback form)', async () => {
    const { ws } = setup();
    let returned = false;
    let calls = 0;
    const done = new Promise<void>((resolve) => {
      ws.accept(requestObject(), undefined, (err) => {
        calls++;
        assert.equal(returned, true, 'the callback ran inside accept()');
        assert.equal(err, null);
        resolve();
      });
    });
    returned = true;
    await done;
    await turns(); // a second call would come from a tick or an immediate, not later
    assert.equal(calls, 1);
  });

  it('completes a rejected request after returning, once, with the error', async () => {
    const { ws } = setup();
    let returned = false;
    const calls: unknown[] = [];
    const done = new Promise<void>((resolve) => {
      ws.accept(requestObject({ 'Sec-WebSocket-Key': null }), undefined, (err) => {
        assert.equal(returned, true);
        calls.push(err);
        resolve();
      });
    });
    returned = true;
    await done;
    await turns(); // a second call would come from a tick or an immediate, not later
    assert.equal(calls.length, 1);
    assert.equal((calls[0] as WebSocketError).code, 'ERR_WS_NO_SEC_KEY');
  });

  it('reads the head bytes as the first bytes of the stream: an eager frame is the first message', async () => {
    const { ws } = setup();
    const head = Buffer.concat([text('eager'), text('second')]);
    await ws.accept(requestObject(), { head });
    const m1 = await ws.read();
    const m2 = await ws.read();
    assert.equal(m1.text(), 'eager');
    assert.equal(m2.text(), 'second');
  });

  it('answers a ping that came in the head after the 101, not before', async () => {
    const { ws, peer } = setup();
    await ws.accept(requestObject(), { head: ping('hi') });
    const frames = await peer.waitFrames(1);
    assert.equal(frames[0]!.opcode, 0xa);
    assert.equal(frames[0]!.payload.toString(), 'hi');
    assert.match(peer.received.toString('latin1'), /^HTTP\/1\.1 101/);
  });

  it('neither keeps nor modifies the request', async () => {
    const { ws } = setup();
    const req = requestObject({ 'Sec-WebSocket-Protocol': 'a, b' });
    const snapshot = JSON.stringify(req);
    Object.freeze(req.headers);
    Object.freeze(req);
    await ws.accept(req, { selectProtocol: (offered) => offered[1] });
    assert.equal(JSON.stringify(req), snapshot);
    for (const v of Object.values(ws)) assert.notEqual(v, req);
  });
});

describe('accept: operations while it runs', () => {
  it('fails read, write, ping, close and a second accept with ERR_WS_OPERATION_IN_PROGRESS, and the handshake goes on', async () => {
    const { ws, peer } = setup();
    const accepting = ws.accept(requestObject());
    const errors = await Promise.allSettled([
      ws.read(),
      ws.write('x'),
      ws.ping(),
      ws.close(),
      ws.accept(requestObject()),
      ws.readSome(),
    ]);
    for (const r of errors) {
      assert.equal(r.status, 'rejected');
      assert.equal((r.reason as WebSocketError).code, 'ERR_WS_OPERATION_IN_PROGRESS');
    }
    await accepting;
    assert.equal((await peer.responseHead()).status, 101);
    assert.equal(peer.frames().length, 0, 'nothing of the failed operations went out');
    await ws.write('after');
    const f = await peer.waitFrames(1);
    assert.equal(f[0]!.payload.toString(), 'after');
  });

  it('fails operations before any handshake with ERR_WS_INVALID_STATE', async () => {
    const { ws } = setup();
    await assert.rejects(ws.read(), { code: 'ERR_WS_INVALID_STATE' });
    await assert.rejects(ws.write('x'), { code: 'ERR_WS_INVALID_STATE' });
  });

  it('fails a second accept after the first completed with ERR_WS_INVALID_STATE', async () => {
    const { ws } = setup();
    await ws.accept(requestObject());
    await assert.rejects(ws.accept(requestObject()), { code: 'ERR_WS_INVALID_STATE' });
  });
});

/** The request with one field's value as given (requestObject trims values). */
function withField(name: string, value: string): UpgradeRequest {
  const req = requestObject();
  return { ...req, headers: { ...req.headers, [name]: value } };
}

describe('accept: invalid requests', () => {
  const cases: [string, UpgradeRequest, ErrorCode, number][] = [
    ['HTTP/1.0', { ...requestObject(), httpVersion: '1.0' }, 'ERR_WS_BAD_HTTP_VERSION', 400],
    ['POST', { ...requestObject(), method: 'POST' }, 'ERR_WS_BAD_METHOD', 400],
    ['GET *', { ...requestObject(), target: '*' }, 'ERR_WS_BAD_REQUEST', 400],
    ['no Host', requestObject({ Host: null }), 'ERR_WS_NO_HOST', 400],
    ['no Connection', requestObject({ Connection: null }), 'ERR_WS_NO_CONNECTION', 400],
    ['Connection: keep-alive', requestObject({ Connection: 'keep-alive' }), 'ERR_WS_NO_CONNECTION_UPGRADE', 400],
    ['Connection: upgraded', requestObject({ Connection: 'upgraded' }), 'ERR_WS_NO_CONNECTION_UPGRADE', 400],
    ['no Upgrade', requestObject({ Upgrade: null }), 'ERR_WS_NO_UPGRADE', 400],
    ['Upgrade: h2c', requestObject({ Upgrade: 'h2c' }), 'ERR_WS_NO_UPGRADE_WEBSOCKET', 400],
    ['no key', requestObject({ 'Sec-WebSocket-Key': null }), 'ERR_WS_NO_SEC_KEY', 400],
    [
      'key of 15 bytes',
      requestObject({ 'Sec-WebSocket-Key': Buffer.alloc(15).toString('base64') }),
      'ERR_WS_BAD_SEC_KEY',
      400,
    ],
    [
      'key of 17 bytes',
      requestObject({ 'Sec-WebSocket-Key': Buffer.alloc(17).toString('base64') }),
      'ERR_WS_BAD_SEC_KEY',
      400,
    ],
    ['key not base64', requestObject({ 'Sec-WebSocket-Key': '!!!!!!!!!!!!!!!!!!!!!!==' }), 'ERR_WS_BAD_SEC_KEY', 400],
    ['no version', requestObject({ 'Sec-WebSocket-Version': null }), 'ERR_WS_NO_SEC_VERSION', 400],
    ['version 8', requestObject({ 'Sec-WebSocket-Version': '8' }), 'ERR_WS_BAD_SEC_VERSION', 426],
    // Only SP and HTAB are optional white space around a value (RFC 9110 §5.5): 0xA0 (obs-text, NBSP in
    // Latin-1, which String.prototype.trim() removes) is part of it, so neither is this key 16 bytes in
    // base64, nor this version 13, nor this Host a host.
    ['key ending in 0xA0', withField('sec-websocket-key', `${KEY}\xa0`), 'ERR_WS_BAD_SEC_KEY', 400],
    ['key starting with 0xA0', withField('sec-websocket-key', `\xa0${KEY}`), 'ERR_WS_BAD_SEC_KEY', 400],
    ['version 13 then 0xA0', withField('sec-websocket-version', '13\xa0'), 'ERR_WS_BAD_SEC_VERSION', 426],
    ['Host ending in 0xA0', withField('host', 'server.example.com\xa0'), 'ERR_WS_BAD_REQUEST', 400],
    // "://" in the query makes no absolute-form target (RFC 9112 §3.2.2: a scheme comes first).
    ['target a?b=://c', { ...requestObject(), target: 'a?b=://c' }, 'ERR_WS_BAD_REQUEST', 400],
    // Only digits 0 make no body (RFC 9112 §6.3): a length that ends in 0 or starts with one is a body.
    ['Content-Length: 10', withField('content-length', '10'), 'ERR_WS_BAD_REQUEST', 400],
    ['Content-Length: 01', withField('content-length', '01'), 'ERR_WS_BAD_REQUEST', 400],
    ['an empty Content-Length', withField('content-length', ''), 'ERR_WS_BAD_REQUEST', 400],
    // '[' and '{' follow 'Z' and 'z': no base64 digits (RFC 4648 §4).
    ['key with [', withField('sec-websocket-key', `[${KEY.slice(1)}`), 'ERR_WS_BAD_SEC_KEY', 400],
    ['key with {', withField('sec-websocket-key', `{${KEY.slice(1)}`), 'ERR_WS_BAD_SEC_KEY', 400],
    // '/' is a separator, no tchar (RFC 9110 §5.6.2): "chat/v2" is no token.
    ['subprotocol chat/v2', withField('sec-websocket-protocol', 'chat/v2'), 'ERR_WS_BAD_REQUEST', 400],
    [
      'target 1ws://host/ (a scheme starts with a letter)',
      { ...requestObject(), target: '1ws://h/' },
      'ERR_WS_BAD_REQUEST',
      400,
    ],
  ];
  for (const [name, req, code, status] of cases) {
    it(`${name} → ${status} and ${code}, then the layer is torn down`, async () => {
      const { ws, peer } = setup();
      const err = await ws.accept(req).then(
        () => null,
        (e: WebSocketError) => e,
      );
      assert.ok(err instanceof WebSocketError);
      assert.equal(err.code, code);
      assert.equal(err.condition, 'handshake_failed');
      const res = await peer.responseHead();
      assert.equal(res.status, status);
      if (status === 426) assert.match(res.head, /\r\nSec-WebSocket-Version: 13(\r\n|$)/);
      const body = await peer.until(() => {
        const m = /Content-Length: (\d+)/.exec(res.head);
        return m && res.rest.length + (peer.received.length - res.head.length - 4 - res.rest.length) >= Number(m[1])
          ? peer.received.subarray(res.head.length + 4).toString()
          : undefined;
      });
      assert.equal(body.split('\n').filter(Boolean).length, 1, 'a one-line reason');
      await peer.waitClosed();
      assert.equal(ws.isOpen, false);
    });
  }

  it('applies the decorator to error responses too', async () => {
    const { ws, peer } = setup();
    await assert.rejects(
      ws.accept(requestObject({ Upgrade: null }), {
        decorator: (h, status) => {
          h.Server = `test/${status}`;
        },
      }),
    );
    assert.match((await peer.responseHead()).head, /\r\nServer: test\/400(\r\n|$)/);
  });
});

describe('accept: subprotocols and decorator', () => {
  it('selectProtocol sees the offer in order and its choice is sent', async () => {
    const { ws, peer } = setup();
    let seen: string[] = [];
    await ws.accept(requestObject({ 'Sec-WebSocket-Protocol': 'chat, superchat' }), {
      selectProtocol: (offered) => {
        seen = offered;
        return 'superchat';
      },
    });
    assert.deepEqual(seen, ['chat', 'superchat']);
    assert.equal(ws.protocol, 'superchat');
    assert.match((await peer.responseHead()).head, /\r\nSec-WebSocket-Protocol: superchat(\r\n|$)/);
  });

  it('sends no subprotocol when the selector returns none', async () => {
    const { ws, peer } = setup();
    await ws.accept(requestObject({ 'Sec-WebSocket-Protocol': 'chat' }), { selectProtocol: () => undefined });
    assert.doesNotMatch((await peer.responseHead()).head, /Sec-WebSocket-Protocol/);
    assert.equal(ws.protocol, '');
  });

  it('does not ask the selector when no subprotocol was offered: 101 without one', async () => {
    const { ws, peer } = setup();
    const asked: string[][] = [];
    const select = (offered: string[]) => {
      asked.push(offered);
      return 'chat';
    };
    await ws.accept(requestObject(), { selectProtocol: select });
    assert.equal((await peer.responseHead()).status, 101);
    assert.deepEqual([asked, ws.protocol], [[], '']);
  });

  it('bufferPolicy "close" with maxBufferedBytes under the 101: accept fails ERR_WS_BUFFER_OVERFLOW and no close frame goes where the response was due', async () => {
    const [server, client] = createTestPair();
    const ws = new WebSocketStream(server, { bufferPolicy: 'close', maxBufferedBytes: 10 });
    const peer = new RawPeer(client);
    await assert.rejects(ws.accept(requestObject()), { code: 'ERR_WS_BUFFER_OVERFLOW' });
    await peer.waitClosed();
    assert.equal(peer.received.length, 0);
  });

  it('refuses with 500 when the selector chooses a protocol that was not offered', async () => {
    const { ws, peer } = setup();
    await assert.rejects(
      ws.accept(requestObject({ 'Sec-WebSocket-Protocol': 'chat' }), { selectProtocol: () => 'other' }),
      { code: 'ERR_WS_INVALID_ARGUMENT' },
    );
    assert.equal((await peer.responseHead()).status, 500);
  });

  it('the decorator adds and changes headers of the 101', async () => {
    const { ws, peer } = setup();
    await ws.accept(requestObject(), {
      decorator: (h) => {
        h.Server = 'ws-stream-test';
        h['X-Id'] = ['1', '2'];
      },
    });
    const { head } = await peer.responseHead();
    assert.match(head, /\r\nServer: ws-stream-test\r\n/);
    assert.match(head, /\r\nX-Id: 1\r\nX-Id: 2(\r\n|$)/);
  });

  it('a header the decorator breaks (CR LF in a value) refuses with 500, not a split response', async () => {
    const { ws, peer } = setup();
    await assert.rejects(
      ws.accept(requestObject(), {
        decorator: (h) => {
          h['X-Evil'] = 'a\r\nSet-Cookie: x';
        },
      }),
      { code: 'ERR_WS_INVALID_ARGUMENT' },
    );
    const { status, head } = await peer.responseHead();
    assert.equal(status, 500);
    assert.doesNotMatch(head, /Set-Cookie/);
  });

  it('bad arguments throw at once', () => {
    const { ws } = setup();
    assert.throws(() => ws.accept(requestObject(), { head: 'x' as unknown as Buffer }), {
      code: 'ERR_WS_INVALID_ARGUMENT',
    });
  });
});

describe('accept(): reading the request itself', () => {
  for (const readSize of [undefined, 1, 7]) {
    it(`reads the request and the frames after it${readSize ? ` delivered ${readSize} byte(s) at a time` : ''}`, async () => {
      const { ws, peer } = setup({ readSize });
      const accepting = ws.accept();
      peer.send(Buffer.concat([Buffer.from(requestHead()), text('first')]));
      await accepting;
      assert.equal((await peer.responseHead()).status, 101);
      assert.equal((await ws.read()).text(), 'first');
    });
  }

  it('takes bytes already read as options.head', async () => {
    const { ws, peer } = setup();
    const raw = Buffer.concat([Buffer.from(requestHead()), text('x')]);
    const accepting = ws.accept({ head: raw.subarray(0, 10) });
    peer.send(raw.subarray(10));
    await accepting;
    assert.equal((await ws.read()).text(), 'x');
  });

  it('answers a malformed head with 400 and ERR_WS_BAD_REQUEST', async () => {
    const { ws, peer } = setup();
    const accepting = ws.accept();
    peer.send('GET / HTTP/1.1\r\nHost: x\r\nbad header line\r\n\r\n');
    await assert.rejects(accepting, { code: 'ERR_WS_BAD_REQUEST' });
    assert.equal((await peer.responseHead()).status, 400);
    await peer.waitClosed();
  });

  it('answers an obs-fold header line with 400', async () => {
    const { ws, peer } = setup();
    const accepting = ws.accept();
    peer.send(requestHead().replace('Upgrade: websocket\r\n', 'Upgrade: websocket\r\n  folded\r\n'));
    await assert.rejects(accepting, { code: 'ERR_WS_BAD_REQUEST' });
  });

  it('answers a head over maxHeaderBytes with 431 without waiting for its end', async () => {
    const { ws, peer } = setup();
    const accepting = ws.accept({ maxHeaderBytes: 1024 });
    peer.send(`GET / HTTP/1.1\r\nX-Big: ${'a'.repeat(2000)}`);
    await assert.rejects(accepting, { code: 'ERR_WS_HEADER_LIMIT' });
    assert.equal((await peer.responseHead()).status, 431);
  });

  it('answers more than maxHeaders fields with 431', async () => {
    const { ws, peer } = setup();
    const accepting = ws.accept({ maxHeaders: 10 });
    const extra: Record<string, string> = {};
    for (let i = 0; i < 10; i++) extra[`X-${i}`] = 'v';
    peer.send(requestHead(extra));
    await assert.rejects(accepting, { code: 'ERR_WS_HEADER_LIMIT' });
    assert.equal((await peer.responseHead()).status, 431);
  });

  it('handles 64 KiB of spaces and commas in Sec-WebSocket-Protocol', async () => {
    const { ws, peer } = setup();
    const accepting = ws.accept({ maxHeaderBytes: 128 * 1024, selectProtocol: (o) => o[0] });
    peer.send(requestHead({ 'Sec-WebSocket-Protocol': `${' ,'.repeat(32 * 1024)}chat` }));
    await accepting;
    assert.equal(ws.protocol, 'chat');
  });

  it('fails with ERR_WS_EOF when the peer ends before the head is complete', async () => {
    const { ws, peer, client } = setup();
    const accepting = ws.accept();
    peer.send('GET / HTTP/1.1\r\n');
    client.end();
    await assert.rejects(accepting, { code: 'ERR_WS_EOF' });
  });
});
