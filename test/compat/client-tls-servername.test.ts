/**
 * A `wss:` client of an IP address sends no server name (SNI is for host names, RFC 6066 §3): ws connects with
 * `servername: ''` then, and node's TLS server sees none. Run on the real `ws` and on ws-stream/ws against one
 * server with a self-signed certificate for 127.0.0.1. A host name is sent as the server name, and a `servername`
 * option is sent as given.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { selfSigned } from '../support/tls-cert.js';
import { impls, ws } from './support.js';

describe('a wss: client of 127.0.0.1', () => {
  it('sends no server name, on ws and on ws-stream/ws', async (t) => {
    const files = selfSigned();
    const [cert, key] = [readFileSync(files.cert), readFileSync(files.key)];
    const server = https.createServer({ cert, key });
    const wss = new ws.WebSocketServer({ server });
    t.after(() => {
      wss.close();
      server.close();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const seen: string[] = [];
    for (const impl of impls) {
      const accepted = once(wss, 'connection');
      const client = new impl.WebSocket(`wss://127.0.0.1:${port}/`, { ca: cert });
      const [serverSide, req] = await accepted;
      seen.push(`${impl.name}: ${(req.socket as TLSSocket).servername}`);
      serverSide.close();
      await once(client, 'close');
    }
    assert.deepEqual(seen, ['ws: false', 'compat: false']);
  });

  it("sends the URL's host name, or the servername option as given (on ws and on ws-stream/ws)", async (t) => {
    const files = selfSigned();
    const [cert, key] = [readFileSync(files.cert), readFileSync(files.key)];
    const server = https.createServer({ cert, key });
    const wss = new ws.WebSocketServer({ server });
    t.after(() => {
      wss.close();
      server.close();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const seen: string[] = [];
    // The certificate is for 127.0.0.1: these names are not checked against it.
    const clients: [string, Record<string, unknown>][] = [
      [`wss://localhost:${port}/a/path?q=1`, { family: 4, rejectUnauthorized: false }],
      [`wss://127.0.0.1:${port}/`, { servername: 'example.test', rejectUnauthorized: false }],
    ];
    for (const impl of impls) {
      for (const [url, options] of clients) {
        const accepted = once(wss, 'connection');
        const client = new impl.WebSocket(url, options);
        const [serverSide, req] = await accepted;
        seen.push(`${impl.name}: ${(req.socket as TLSSocket).servername} ${req.url}`);
        serverSide.close();
        await once(client, 'close');
      }
    }
    assert.deepEqual(seen, [
      'ws: localhost /a/path?q=1',
      'ws: example.test /',
      'compat: localhost /a/path?q=1',
      'compat: example.test /',
    ]);
  });
});
