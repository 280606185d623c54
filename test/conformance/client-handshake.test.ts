/**
 * The client role's opening handshake to the letter of RFC 6455 §4.1 (and RFC 7692 §5, §7.1 for
 * permessage-deflate), against a raw TCP server that writes exact bytes: what the request must
 * hold, and every check of the response ("the client MUST _Fail the WebSocket Connection_"), each
 * with its error code, nothing sent after the request, and the connection closed by the client.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ClientHandshakeError, type ConnectOptions, type WebSocketStream, connect } from '../../src/index.js';
import { type RawPeer, type RawServer, rawServer, sclose, sframe } from './raw-server.js';

type Outcome = { ws: WebSocketStream; error?: undefined } | { ws?: undefined; error: ClientHandshakeError };

/** connect() to `server`, which answers the request with `respond(peer)`; the outcome and the peer. */
async function attempt(
  server: RawServer,
  respond: (peer: RawPeer) => unknown,
  options: ConnectOptions = {},
  path = '/',
): Promise<{ outcome: Outcome; peer: RawPeer }> {
  const pending = connect(server.url(path), { handshakeTimeout: 20_000, ...options }).then(
    (ws): Outcome => ({ ws }),
    (error: ClientHandshakeError): Outcome => ({ error }),
  );
  const peer = await server.next();
  await respond(peer);
  return { outcome: await pending, peer };
}

describe('RFC 6455 §4.1, client role: the request', { timeout: 60_000 }, () => {
  it('GET {path} HTTP/1.1, Host with the port, Upgrade, Connection, a fresh 16-byte key, version 13; nothing before the 101', async (t) => {
    const server = await rawServer(t);
    const keys: string[] = [];
    for (let i = 0; i < 2; i++) {
      const { outcome, peer } = await attempt(
        server,
        async (p) => {
          // Nothing may follow the request until the server answered (no frame, no body).
          await new Promise((r) => setImmediate(r));
          assert.equal(p.after.length, 0);
          p.write(p.ok('Sec-WebSocket-Protocol: chat\r\n'));
        },
        { protocols: ['superchat', 'chat'] },
        '/chat?room=1&x=%20',
      );
      assert.ok(outcome.ws, outcome.error?.message);
      const lines = peer.request.split('\r\n');
      assert.equal(lines[0], 'GET /chat?room=1&x=%20 HTTP/1.1');
      assert.equal(peer.headers.host, `127.0.0.1:${server.port}`);
      assert.equal(peer.headers.upgrade?.toLowerCase(), 'websocket');
      assert.ok(
        peer.headers.connection
          ?.toLowerCase()
          .split(/\s*,\s*/)
          .includes('upgrade'),
      );
      assert.equal(peer.headers['sec-websocket-version'], '13');
      assert.equal(peer.headers['sec-websocket-protocol'], 'superchat, chat');
      // No Origin unless the application gives one (§4.1: only browser clients MUST send it).
      assert.equal(peer.headers.origin, undefined);
      assert.equal(peer.headers['sec-websocket-extensions'], undefined);
      const key = peer.headers['sec-websocket-key']!;
      assert.match(key, /^[A-Za-z0-9+/]{22}==$/);
      assert.equal(Buffer.from(key, 'base64').length, 16);
      keys.push(key);
      assert.equal(outcome.ws.protocol, 'chat');
      outcome.ws.nextLayer.destroy();
    }
    assert.notEqual(keys[0], keys[1], 'a nonce per connection');
  });

  it('Origin when given; permessage-deflate offered with client_max_window_bits (RFC 7692 §7.1.2.2)', async (t) => {
    const server = await rawServer(t);
    const { outcome, peer } = await attempt(server, (p) => p.write(p.ok()), {
      headers: { Origin: 'http://example.com' },
      perMessageDeflate: { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10 },
    });
    assert.ok(outcome.ws, outcome.error?.message);
    assert.equal(peer.headers.origin, 'http://example.com');
    assert.equal(
      peer.headers['sec-websocket-extensions'],
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits',
    );
    // The server declined the extension (no field): the connection is open without it.
    assert.equal(outcome.ws.extensions, '');
    outcome.ws.nextLayer.destroy();
  });

  it('RFC 6455 §3: a URL with a fragment, an empty one too ("#"), is no WebSocket URI: refused before connecting; %23 is a path character', async (t) => {
    const server = await rawServer(t);
    for (const path of ['/chat#room', '/chat#', '/#', '/chat?x=1#']) {
      await assert.rejects(connect(server.url(path)), { code: 'ERR_WS_INVALID_ARGUMENT', message: /fragment/ }, path);
    }
    // No connection was made for any of them: the first to arrive is the valid request below.
    const { outcome, peer } = await attempt(server, (p) => p.write(p.ok()), {}, '/chat%23room');
    assert.ok(outcome.ws, outcome.error?.message);
    assert.equal(peer.request.split('\r\n')[0], 'GET /chat%23room HTTP/1.1');
    outcome.ws.nextLayer.destroy();
  });
});

/** [what the server answers, the error connect() fails with]; the client offers `chat` and permessage-deflate. */
const refusals: [string, (p: RawPeer) => string, string][] = [
  // Step 1: a status other than 101 is handled as HTTP; the body is read (up to 64 KiB) and given.
  ['200 OK', () => 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi', 'ERR_WS_UPGRADE_DECLINED'],
  [
    '302 Found (redirects are not followed)',
    () => 'HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n',
    'ERR_WS_UPGRADE_DECLINED',
  ],
  [
    '426 with Sec-WebSocket-Version: 13',
    () => 'HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n',
    'ERR_WS_UPGRADE_DECLINED',
  ],
  // A status under 100 is no interim response (RFC 9110 §15.2 is 1xx): a refusal, not a head to read past.
  ['a status of 099', () => 'HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n', 'ERR_WS_UPGRADE_DECLINED'],
  ['a malformed status line', () => 'HTTP/1.1 10x Switching Protocols\r\n\r\n', 'ERR_WS_BAD_RESPONSE'],
  // RFC 9112 §5.2: an obs-fold continues a field; one right after the status line continues none.
  [
    'an obs-fold line right after the status line',
    (p) => p.ok().replace('\r\n', '\r\n X-Folded: a\r\n'),
    'ERR_WS_BAD_RESPONSE',
  ],
  // RFC 9112 §2.6: a major version other than 1 is not HTTP/1.x, whatever else the head holds.
  ['a 101 in HTTP/2.0', (p) => p.ok().replace('HTTP/1.1 101', 'HTTP/2.0 101'), 'ERR_WS_BAD_RESPONSE'],
  ['a 101 in HTTP/0.9', (p) => p.ok().replace('HTTP/1.1 101', 'HTTP/0.9 101'), 'ERR_WS_BAD_RESPONSE'],
  ['a 403 in HTTP/3.0', () => 'HTTP/3.0 403 Forbidden\r\nContent-Length: 0\r\n\r\n', 'ERR_WS_BAD_RESPONSE'],
  // Step 2: Upgrade must be "websocket" (case-insensitive).
  ['no Upgrade', (p) => p.ok().replace('Upgrade: websocket\r\n', ''), 'ERR_WS_NO_UPGRADE'],
  ['Upgrade: h2c', (p) => p.ok().replace('Upgrade: websocket', 'Upgrade: h2c'), 'ERR_WS_NO_UPGRADE_WEBSOCKET'],
  [
    'Upgrade: websocket, h2c (not the value "websocket")',
    (p) => p.ok().replace('Upgrade: websocket', 'Upgrade: websocket, h2c'),
    'ERR_WS_NO_UPGRADE_WEBSOCKET',
  ],
  [
    'Upgrade: websocket/13',
    (p) => p.ok().replace('Upgrade: websocket', 'Upgrade: websocket/13'),
    'ERR_WS_NO_UPGRADE_WEBSOCKET',
  ],
  [
    'two Upgrade fields',
    (p) => p.ok().replace('Upgrade: websocket\r\n', 'Upgrade: websocket\r\nUpgrade: websocket\r\n'),
    'ERR_WS_NO_UPGRADE_WEBSOCKET',
  ],
  // Step 3: Connection must hold the token "Upgrade".
  ['no Connection', (p) => p.ok().replace('Connection: Upgrade\r\n', ''), 'ERR_WS_NO_CONNECTION'],
  [
    'Connection: keep-alive',
    (p) => p.ok().replace('Connection: Upgrade', 'Connection: keep-alive'),
    'ERR_WS_NO_CONNECTION_UPGRADE',
  ],
  [
    'Connection: Upgraded',
    (p) => p.ok().replace('Connection: Upgrade', 'Connection: Upgraded'),
    'ERR_WS_NO_CONNECTION_UPGRADE',
  ],
  // Step 4: Sec-WebSocket-Accept must be base64(SHA-1(key + GUID)).
  ['no Sec-WebSocket-Accept', (p) => p.ok().replace(/Sec-WebSocket-Accept: .*\r\n/, ''), 'ERR_WS_NO_SEC_ACCEPT'],
  [
    "the RFC's sample accept (for another key)",
    (p) => p.ok().replace(p.accept, 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='),
    'ERR_WS_BAD_SEC_ACCEPT',
  ],
  ['the accept in lower case', (p) => p.ok().replace(p.accept, p.accept.toLowerCase()), 'ERR_WS_BAD_SEC_ACCEPT'],
  [
    'the key echoed as accept',
    (p) => p.ok().replace(p.accept, p.headers['sec-websocket-key']!),
    'ERR_WS_BAD_SEC_ACCEPT',
  ],
  ['an empty accept', (p) => p.ok().replace(p.accept, ''), 'ERR_WS_BAD_SEC_ACCEPT'],
  // Step 5: only extensions the client offered.
  [
    'an extension not offered',
    (p) => p.ok('Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n'),
    'ERR_WS_BAD_EXTENSION',
  ],
  [
    'permessage-deflate twice',
    (p) => p.ok('Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate\r\n'),
    'ERR_WS_BAD_EXTENSION',
  ],
  // Step 6: only a subprotocol the client offered, and one.
  ['a subprotocol not offered', (p) => p.ok('Sec-WebSocket-Protocol: other\r\n'), 'ERR_WS_BAD_SUBPROTOCOL'],
  ['two subprotocols', (p) => p.ok('Sec-WebSocket-Protocol: chat, chat\r\n'), 'ERR_WS_BAD_SUBPROTOCOL'],
  ['an empty subprotocol', (p) => p.ok('Sec-WebSocket-Protocol: \r\n'), 'ERR_WS_BAD_SUBPROTOCOL'],
  [
    'a subprotocol in another case (token match is exact)',
    (p) => p.ok('Sec-WebSocket-Protocol: CHAT\r\n'),
    'ERR_WS_BAD_SUBPROTOCOL',
  ],
  // RFC 7692 §5 / §7.1: a response the client did not allow.
  ...(
    [
      ['server_max_window_bits=7', 'permessage-deflate; server_max_window_bits=7'],
      ['server_max_window_bits=16', 'permessage-deflate; server_max_window_bits=16'],
      ['server_max_window_bits without a value', 'permessage-deflate; server_max_window_bits'],
      ['server_max_window_bits=1a', 'permessage-deflate; server_max_window_bits=1a'],
      [
        'client_max_window_bits without a value (a response must give one)',
        'permessage-deflate; client_max_window_bits',
      ],
      ['client_max_window_bits=16', 'permessage-deflate; client_max_window_bits=16'],
      ['an unknown parameter', 'permessage-deflate; foo=1'],
      ['a repeated parameter', 'permessage-deflate; server_no_context_takeover; server_no_context_takeover'],
      ['server_no_context_takeover with a value', 'permessage-deflate; server_no_context_takeover=1'],
      ['a malformed field', 'permessage-deflate; ;'],
    ] as const
  ).map(([name, value]): [string, (p: RawPeer) => string, string] => [
    `permessage-deflate with ${name}`,
    (p) => p.ok(`Sec-WebSocket-Extensions: ${value}\r\n`),
    'ERR_WS_BAD_EXTENSION',
  ]),
];

describe('RFC 6455 §4.1, client role: a response that fails the connection', { timeout: 120_000 }, () => {
  it('each: its error code, nothing sent after the request, the connection closed by the client', async (t) => {
    const server = await rawServer(t);
    for (const [name, response, code] of refusals) {
      const { outcome, peer } = await attempt(server, (p) => p.write(response(p)), {
        protocols: ['chat'],
        perMessageDeflate: true,
      });
      assert.equal(outcome.error?.code, code, `${name}: ${outcome.error?.message ?? 'opened'}`);
      outcome.ws?.nextLayer.destroy();
      await peer.clientDone();
      assert.equal(peer.after.length, 0, name);
      assert.ok(peer.clientEnded || peer.events[0] === 'close', name);
    }
  });

  it('RFC 7692 §7.1: a response that does not grant what the client asked for fails; one that grants less than allowed opens', async (t) => {
    const server = await rawServer(t);
    const asked = { serverMaxWindowBits: 10, serverNoContextTakeover: true, clientMaxWindowBits: 12 };
    for (const [value, code] of [
      // §7.1.2.1: a server_max_window_bits over the value offered.
      ['permessage-deflate; server_no_context_takeover; server_max_window_bits=11', 'ERR_WS_BAD_EXTENSION'],
      // No server_max_window_bits at all: the server would use 15, over the 10 offered.
      ['permessage-deflate; server_no_context_takeover', 'ERR_WS_BAD_EXTENSION'],
      // §7.1.1.1: server_no_context_takeover asked and not granted (our choice: not a configuration we accept).
      ['permessage-deflate; server_max_window_bits=10', 'ERR_WS_BAD_EXTENSION'],
      // §7.1.2.2: client_max_window_bits over the value the client offered.
      [
        'permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=13',
        'ERR_WS_BAD_EXTENSION',
      ],
      ['permessage-deflate; server_no_context_takeover; server_max_window_bits=9; client_max_window_bits=8', 'ok'],
      ['permessage-deflate; server_no_context_takeover; server_max_window_bits=10', 'ok'],
    ] as const) {
      const { outcome, peer } = await attempt(server, (p) => p.write(p.ok(`Sec-WebSocket-Extensions: ${value}\r\n`)), {
        perMessageDeflate: asked,
      });
      assert.equal(
        peer.headers['sec-websocket-extensions'],
        'permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12',
      );
      assert.equal(outcome.error?.code ?? 'ok', code, value);
      if (outcome.ws) assert.equal(outcome.ws.extensions, value);
      outcome.ws?.nextLayer.destroy();
      await peer.clientDone();
    }
  });

  it('a refusal: the status, headers and whole body reach the caller (Content-Length, chunked, to the end)', async (t) => {
    const server = await rawServer(t);
    for (const [response, status, body] of [
      ['HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nno entry\n', 403, 'no entry\n'],
      ['HTTP/1.1 503 Busy\r\nConnection: close\r\n\r\ncome back later', 503, 'come back later'],
    ] as const) {
      const { outcome } = await attempt(server, (p) => {
        p.write(response);
        if (!/Content-Length/.test(response)) p.end();
      });
      assert.equal(outcome.error?.code, 'ERR_WS_UPGRADE_DECLINED');
      assert.equal(outcome.error.response?.status, status);
      assert.equal(outcome.error.response?.body.toString(), body);
    }
  });
});

describe('RFC 6455 §4.1, client role: how much of a refusal is read', { timeout: 60_000 }, () => {
  it('the body up to 64 KiB, or what came when the server stalls; then the client closes the connection', async (t) => {
    const server = await rawServer(t);
    const big = Buffer.alloc(100_000, 0x61);
    for (const [name, head, body, kept] of [
      ['a body over 64 KiB', 'HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n', big, big.subarray(0, 65536)],
      [
        'a body shorter than its Content-Length',
        'HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\n',
        'abcde',
        'abcde',
      ],
      ['no Content-Length and no end', 'HTTP/1.1 403 Forbidden\r\n\r\n', 'abcde', 'abcde'],
    ] as const) {
      const { outcome, peer } = await attempt(server, (p) => p.write(head, body));
      assert.equal(outcome.error?.code, 'ERR_WS_UPGRADE_DECLINED', name);
      assert.deepEqual(outcome.error.response?.body, Buffer.from(kept), name);
      await peer.clientDone();
      assert.equal(peer.after.length, 0, name);
    }
  });
});

describe('RFC 6455 §4.1, client role: responses that are valid', { timeout: 120_000 }, () => {
  /** [name, response]: each opens, and a message behind it in the same write is read. */
  const valid: [string, (p: RawPeer) => string][] = [
    [
      'Upgrade: WebSocket, Connection: upgrade (any case)',
      (p) => p.ok().replace('websocket', 'WebSocket').replace('Upgrade\r\n', 'upgrade\r\n'),
    ],
    [
      'Connection: keep-alive, Upgrade',
      (p) => p.ok().replace('Connection: Upgrade', 'Connection: keep-alive, Upgrade'),
    ],
    [
      'two Connection fields, one with upgrade',
      (p) => p.ok().replace('Connection: Upgrade\r\n', 'Connection: keep-alive\r\nConnection: Upgrade\r\n'),
    ],
    [
      'field names in lower case',
      (p) =>
        p
          .ok()
          .replace('Upgrade:', 'upgrade:')
          .replace('Connection:', 'connection:')
          .replace('Sec-WebSocket-Accept:', 'sec-websocket-accept:'),
    ],
    ['white space around the accept value', (p) => p.ok().replace(`: ${p.accept}`, `:\t ${p.accept} \t`)],
    ['a status line without a reason phrase', (p) => p.ok().replace('101 Switching Protocols', '101 ')],
    // RFC 9112 §2.6: a later 1.x minor is processed as 1.1.
    ['a 101 in HTTP/1.2', (p) => p.ok().replace('HTTP/1.1 101', 'HTTP/1.2 101')],
    [
      'other header fields (Date, Server, Set-Cookie twice)',
      (p) => p.ok('Date: Fri, 04 Dec 2026 07:00:00 GMT\r\nServer: raw\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n'),
    ],
    // RFC 9112 §6.3: a 1xx response has no content, whatever its fields say: what follows are frames.
    ['Content-Length: 5 in the 101', (p) => p.ok('Content-Length: 5\r\n')],
    ['Transfer-Encoding: chunked in the 101', (p) => p.ok('Transfer-Encoding: chunked\r\n')],
    ['the offered subprotocol', (p) => p.ok('Sec-WebSocket-Protocol: chat\r\n')],
    [
      'permessage-deflate with every parameter a response may hold',
      (p) =>
        p.ok(
          'Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=8\r\n',
        ),
    ],
    [
      'permessage-deflate with quoted values',
      (p) =>
        p.ok(
          'Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits="10"; client_max_window_bits="9"\r\n',
        ),
    ],
    ['PERMESSAGE-DEFLATE in upper case', (p) => p.ok('Sec-WebSocket-Extensions: PERMESSAGE-DEFLATE\r\n')],
    // RFC 9110 §5.6.4: a quoted-pair in a quoted string stands for the octet after the backslash.
    [
      'permessage-deflate with a quoted-pair in a value ("1\\0" is 10)',
      (p) => p.ok('Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits="1\\0"\r\n'),
    ],
    // An empty field names no extension (§4.1 step 5 fails only one not offered): none is in use.
    ['an empty Sec-WebSocket-Extensions', (p) => p.ok('Sec-WebSocket-Extensions: \r\n')],
  ];
  it('each opens, and the frame written with the 101 is the first message', async (t) => {
    const server = await rawServer(t);
    for (const [name, response] of valid) {
      const { outcome, peer } = await attempt(
        server,
        (p) => p.write(response(p), sframe({ opcode: 1, payload: name })),
        { protocols: ['chat'], perMessageDeflate: true },
      );
      assert.ok(outcome.ws, `${name}: ${outcome.error?.message ?? ''}`);
      const msg = await outcome.ws.read();
      assert.equal(msg.text(), name);
      outcome.ws.nextLayer.destroy();
      await peer.clientDone();
    }
  });

  it('an obs-fold line in the 101 is unfolded (RFC 9112 §5.2: a user agent MUST replace it with SP)', async (t) => {
    const server = await rawServer(t);
    const { outcome } = await attempt(
      server,
      (p) => p.write(p.ok('Sec-WebSocket-Protocol:\r\n chat\r\nX-Long: a\r\n\tb\r\n')),
      { protocols: ['chat'] },
    );
    assert.ok(outcome.ws, outcome.error?.message);
    assert.equal(outcome.ws.protocol, 'chat');
    outcome.ws.nextLayer.destroy();
  });
});

describe('RFC 6455 §4.1, client role: the bytes after the 101', { timeout: 120_000 }, () => {
  const frames = (): Buffer[] => [
    sframe({ opcode: 1, payload: 'one' }),
    sframe({ opcode: 2, payload: Buffer.from([0, 1, 2]), fin: false }),
    sframe({ opcode: 9, payload: 'p' }),
    sframe({ opcode: 0, payload: Buffer.from([3]) }),
    sclose(1000, 'bye'),
  ];
  /** Reads every message until the clean close; the pong and the close echo the client sent. */
  async function readAll(ws: WebSocketStream, peer: RawPeer) {
    const got: string[] = [];
    for await (const m of ws) got.push(m.binary ? m.data.toString('hex') : m.text());
    const sent = await peer.frameCount(2);
    peer.end();
    const info = await ws.whenClosed();
    return {
      got,
      sent: sent.map((f) => [f.opcode, f.masked, f.payload.toString('hex')]),
      info: [info.initiatedBy, info.code, info.reason, info.wasClean],
    };
  }
  const expected = {
    got: ['one', '00010203'],
    sent: [
      [10, true, Buffer.from('p').toString('hex')],
      [8, true, Buffer.from([0x03, 0xe8, ...Buffer.from('bye')]).toString('hex')],
    ],
    info: ['remote', 1000, 'bye', true],
  };

  it('the 101 and every frame in one TCP write: none is lost', async (t) => {
    const server = await rawServer(t);
    const { outcome, peer } = await attempt(server, (p) => p.write(p.ok(), ...frames()));
    assert.ok(outcome.ws, outcome.error?.message);
    assert.deepEqual(await readAll(outcome.ws, peer), expected);
  });

  it('the 101 and the frames one byte per TCP write', async (t) => {
    const server = await rawServer(t);
    const { outcome, peer } = await attempt(server, (p) => p.trickle(p.ok(), ...frames()));
    assert.ok(outcome.ws, outcome.error?.message);
    assert.deepEqual(await readAll(outcome.ws, peer), expected);
  });

  it('the 101 cut at every byte, the rest and the frames in a second write', async (t) => {
    const server = await rawServer(t);
    const probe = await attempt(server, (p) => p.write(p.ok()));
    const length = Buffer.byteLength(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${'x'.repeat(28)}\r\n\r\n`,
    );
    probe.outcome.ws?.nextLayer.destroy();
    for (let cut = 1; cut < length; cut += 7) {
      const { outcome, peer } = await attempt(server, async (p) => {
        const all = Buffer.concat([Buffer.from(p.ok()), ...frames()]);
        p.write(all.subarray(0, cut));
        await new Promise((r) => setImmediate(r));
        p.write(all.subarray(cut));
      });
      assert.ok(outcome.ws, outcome.error?.message);
      assert.deepEqual(await readAll(outcome.ws, peer), expected, `cut at ${cut}`);
    }
  });
});
