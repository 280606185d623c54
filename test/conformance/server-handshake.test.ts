/**
 * The server role's opening handshake to the letter of RFC 6455 §4.2 and §11.3, for what the other
 * suites leave out: header fields that may be repeated in a request (§11.3.2, §11.3.4: the same as
 * one field with all the values) and one that may not (§11.3.5), field names and values in any
 * case, white space around the key, and the 101 itself byte for byte. Both fronts: `net` +
 * `accept()` and node:http + `accept(req, { head })`, from a raw TCP client.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { describe, it } from 'node:test';
import { WebSocketStream } from '../../src/index.js';
import { KEY, KEY_ACCEPT } from '../support/frames.js';
import { attack } from '../support/hostile.js';

type After = { after(fn: () => unknown): void };
/** What accept() was offered and how it ended, per connection in order. */
interface Seen {
  offered: string[];
  result: string;
  /** Resolves once accept() completed. */
  done?: Promise<void>;
}

/** A server on both fronts that chooses the last subprotocol offered and accepts permessage-deflate. */
async function servers(t: After): Promise<{ name: string; port: number; seen: Seen[] }[]> {
  const out: { name: string; port: number; seen: Seen[] }[] = [];
  const run = (seen: Seen[], ws: WebSocketStream, accept: (o: object) => Promise<void>): void => {
    const s: Seen = { offered: [], result: '' };
    seen.push(s);
    const options = {
      selectProtocol: (offered: string[]) => {
        s.offered = offered;
        return offered.at(-1);
      },
    };
    s.done = accept(options).then(
      () => {
        s.result = 'ok';
        ws.read().catch(() => {});
      },
      (e: { code: string }) => {
        s.result = e.code;
      },
    );
  };
  const netSeen: Seen[] = [];
  const a = net.createServer((socket) => {
    const ws = new WebSocketStream(socket, { perMessageDeflate: true });
    run(netSeen, ws, (o) => ws.accept(o));
  });
  const httpSeen: Seen[] = [];
  const b = http.createServer();
  b.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const ws = new WebSocketStream(socket, { perMessageDeflate: true });
    run(httpSeen, ws, (o) => ws.accept(req, { head, ...o }));
  });
  for (const [name, srv, seen] of [
    ['net + accept()', a, netSeen],
    ['node:http + accept(req)', b, httpSeen],
  ] as const) {
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    out.push({ name, port: (srv.address() as net.AddressInfo).port, seen });
  }
  t.after(() => {
    b.closeAllConnections();
    a.close();
    b.close();
  });
  return out;
}

const request = (fields: string): string => `GET /chat HTTP/1.1\r\nHost: server.example.com\r\n${fields}\r\n`;
const BASE = `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n`;

describe('RFC 6455 §4.2, §11.3, server role: repeated fields, case, white space, the 101', { timeout: 60_000 }, () => {
  it('the 101 for the RFC sample key, byte for byte: no Sec-WebSocket-Protocol or -Extensions when none was asked', async (t) => {
    for (const s of await servers(t)) {
      const ex = await attack(s.port, [request(BASE)], { closeIfOpened: true });
      assert.equal(
        ex.head,
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${KEY_ACCEPT}`,
        s.name,
      );
    }
  });

  it('§11.3.4: Sec-WebSocket-Protocol twice is one list, in order; §11.3.2: Sec-WebSocket-Extensions twice too', async (t) => {
    for (const s of await servers(t)) {
      const ex = await attack(
        s.port,
        [
          request(
            `${BASE}Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Extensions: x-unknown\r\nSec-WebSocket-Protocol: v2, superchat\r\nSec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n`,
          ),
        ],
        { closeIfOpened: true },
      );
      assert.equal(ex.status, 101, s.name);
      await s.seen.at(-1)?.done;
      assert.deepEqual([s.seen.at(-1)?.offered, s.seen.at(-1)?.result], [['chat', 'v2', 'superchat'], 'ok'], s.name);
      assert.match(ex.head, /\r\nSec-WebSocket-Protocol: superchat(\r\n|$)/, s.name);
      assert.match(
        ex.head,
        /\r\nSec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10(\r\n|$)/,
        s.name,
      );
    }
  });

  it('§11.3.5: Sec-WebSocket-Version twice is refused (the field MUST NOT appear more than once in a request)', async (t) => {
    for (const s of await servers(t)) {
      const ex = await attack(s.port, [request(`${BASE}Sec-WebSocket-Version: 13\r\n`)]);
      assert.notEqual(ex.status, 101, s.name);
      assert.equal(ex.status, 426, s.name);
      assert.match(ex.head, /\r\nSec-WebSocket-Version: 13(\r\n|$)/i, s.name);
      // RFC 9110 §15.5.22 and §7.8: the 426 names websocket in Upgrade, and "upgrade" in Connection beside "close".
      assert.match(ex.head, /\r\nUpgrade: websocket(\r\n|$)/i, s.name);
      assert.match(ex.head, /\r\nConnection: Upgrade, close(\r\n|$)/i, s.name);
      await s.seen.at(-1)?.done;
      assert.equal(s.seen.at(-1)?.result, 'ERR_WS_BAD_SEC_VERSION', s.name);
    }
  });

  it('field names and token values in any case, white space around the key: 101 with the accept of the trimmed key', async (t) => {
    for (const s of await servers(t)) {
      const ex = await attack(
        s.port,
        [
          request(
            `UPGRADE: WebSocket\r\nconnection: keep-alive, UPGRADE\r\nsec-websocket-key:  \t${KEY} \t\r\nSEC-WEBSOCKET-VERSION: 13\r\n`,
          ),
        ],
        { closeIfOpened: true },
      );
      assert.equal(ex.status, 101, s.name);
      assert.match(
        ex.head,
        new RegExp(`\\r\\nSec-WebSocket-Accept: ${KEY_ACCEPT.replace(/[+/]/g, '\\$&')}(\\r\\n|$)`),
        s.name,
      );
    }
  });

  it('RFC 9112 §3.2: a Host whose value is no uri-host [":" port] is answered 400; names, addresses, IP literals and ports open', async (t) => {
    const head = (host: string): Buffer => Buffer.from(`GET /chat HTTP/1.1\r\nHost: ${host}\r\n${BASE}\r\n`, 'latin1');
    const bad = [
      'a b',
      'a/b',
      'user@example.com',
      'example.com:80x',
      'example.com:80:81',
      '[::1',
      '[]',
      'caf\xe9',
      '%zz',
      'a"b',
    ];
    const good = [
      'localhost',
      'server.example.com:8080',
      '127.0.0.1:1',
      '[::1]:8080',
      '[fe80::1%25eth0]',
      'a%41b',
      'under_score.example:',
    ];
    for (const s of await servers(t)) {
      for (const host of bad) {
        const ex = await attack(s.port, [head(host)], { closeIfOpened: true });
        assert.equal(ex.status, 400, `${s.name}: Host ${host}`);
        assert.match(ex.body.toString(), /malformed Host header/, `${s.name}: Host ${host}`);
        await s.seen.at(-1)?.done;
        assert.equal(s.seen.at(-1)?.result, 'ERR_WS_BAD_REQUEST', `${s.name}: Host ${host}`);
      }
      for (const host of good) {
        const ex = await attack(s.port, [head(host)], { closeIfOpened: true });
        assert.equal(ex.status, 101, `${s.name}: Host ${host}`);
      }
    }
  });

  it('RFC 9112 §6.3: a request with a body (Content-Length other than 0, or Transfer-Encoding) is refused 400; its bytes are never taken for frames', async (t) => {
    // The body is itself a masked text frame: taken for frames, it would be a message the client never sent.
    const smuggled = Buffer.from([0x81, 0x82, 0, 0, 0, 0, 0x68, 0x69]);
    const bodies: [string, Buffer][] = [
      [`Content-Length: ${smuggled.length}\r\n`, smuggled],
      ['Transfer-Encoding: chunked\r\n', Buffer.from(`8\r\n${smuggled.toString('latin1')}\r\n0\r\n\r\n`, 'latin1')],
    ];
    for (const s of await servers(t)) {
      for (const [field, body] of bodies) {
        const ex = await attack(s.port, [Buffer.concat([Buffer.from(request(`${BASE}${field}`)), body])], {
          closeIfOpened: true,
        });
        assert.equal(ex.status, 400, `${s.name}: ${field.trim()}`);
        assert.match(ex.body.toString(), /has a body/, `${s.name}: ${field.trim()}`);
        await s.seen.at(-1)?.done;
        assert.equal(s.seen.at(-1)?.result, 'ERR_WS_BAD_REQUEST', `${s.name}: ${field.trim()}`);
      }
      const empty = await attack(s.port, [request(`${BASE}Content-Length: 0\r\n`)], { closeIfOpened: true });
      assert.equal(empty.status, 101, `${s.name}: Content-Length: 0 is no body`);
    }
  });
  it('RFC 9110 §9.3.2: a HEAD with the upgrade fields is refused 400 with the fields a GET would get and no content', async (t) => {
    for (const s of await servers(t)) {
      const ex = await attack(s.port, [`HEAD /chat HTTP/1.1\r\nHost: server.example.com\r\n${BASE}\r\n`]);
      assert.equal(ex.status, 400, s.name);
      const reason = 'method must be GET: HEAD\n';
      assert.match(ex.head, new RegExp(`\r\nContent-Length: ${reason.length}(\r\n|$)`), s.name);
      assert.equal(ex.body.toString(), '', s.name);
      await s.seen.at(-1)?.done;
      assert.equal(s.seen.at(-1)?.result, 'ERR_WS_BAD_METHOD', s.name);
      // A GET refused the same way still carries its reason.
      const get = await attack(s.port, [request(BASE.replace('13', '8'))]);
      assert.equal(get.status, 426, s.name);
      assert.match(get.body.toString(), /Sec-WebSocket-Version must be 13/, s.name);
    }
  });
});
