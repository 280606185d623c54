/**
 * What a redirected client sends (`followRedirects`, no 'redirect' listener), as ws does it: to the same host, the
 * credentials of the URL, the Cookie and the Host headers given go again; to another host, none of them (ws follows
 * curl 7.77.0 there), nor the `auth` option's credentials. A Location naming the same host without credentials
 * still gets the first request's. Run on the real `ws` and on ws-stream/ws; the other host is 127.0.0.2 (loopback).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { type Impl, impls, ws } from './support.js';

interface Redirecting {
  port: number;
  /** The headers of the next request for /to. */
  landed(): Promise<http.IncomingHttpHeaders>;
}

/** A server on `host` answering /from with a redirect to `location` and accepting /to. */
async function redirecting(
  t: TestContext,
  host: string,
  location: string | ((port: number) => string),
): Promise<Redirecting> {
  const server = http.createServer();
  const wss = new ws.WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    if (req.url === '/from')
      return void socket.end(
        `HTTP/1.1 302 Found\r\nLocation: ${typeof location === 'string' ? location : location(port)}\r\nContent-Length: 0\r\n\r\n`,
      );
    wss.handleUpgrade(req, socket, head, (s: { close(): void }) => {
      server.emit('landed', req.headers);
      s.close();
    });
  });
  t.after(() => server.close());
  server.listen(0, host);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return { port, landed: async () => (await once(server, 'landed'))[0] };
}

/** The Authorization, Cookie and Host headers at /to of `landing`, the client of `impl` redirected from `from`'s /from. */
async function headersAfterRedirect(impl: Impl, from: Redirecting, landing: Redirecting): Promise<unknown[]> {
  const landed = landing.landed();
  const client = new impl.WebSocket(`ws://user:secret@127.0.0.1:${from.port}/from`, {
    followRedirects: true,
    headers: { Cookie: 'session=1', Host: `name.test:${from.port}` },
  });
  const headers = await landed;
  await once(client, 'close');
  return [headers.authorization, headers.cookie, headers.host];
}

for (const impl of impls) {
  describe(`${impl.name}: the headers of a redirected request`, () => {
    it('to the same host: the credentials, Cookie and Host go again', async (t) => {
      const server = await redirecting(t, '127.0.0.1', '/to');
      assert.deepEqual(await headersAfterRedirect(impl, server, server), [
        `Basic ${Buffer.from('user:secret').toString('base64')}`,
        'session=1',
        `name.test:${server.port}`,
      ]);
    });

    it('to the same host by an absolute URL without credentials: the credentials still go', async (t) => {
      const server = await redirecting(t, '127.0.0.1', (port) => `ws://127.0.0.1:${port}/to`);
      assert.deepEqual(await headersAfterRedirect(impl, server, server), [
        `Basic ${Buffer.from('user:secret').toString('base64')}`,
        'session=1',
        `name.test:${server.port}`,
      ]);
    });

    it('to another host: no credentials, no Cookie, and the Host of the new URL', async (t) => {
      const other = await redirecting(t, '127.0.0.2', '/to');
      const server = await redirecting(t, '127.0.0.1', `ws://127.0.0.2:${other.port}/to`);
      assert.deepEqual(await headersAfterRedirect(impl, server, other), [
        undefined,
        undefined,
        `127.0.0.2:${other.port}`,
      ]);
    });

    it('to another host, credentials given as the auth option: they do not go', async (t) => {
      const other = await redirecting(t, '127.0.0.2', '/to');
      const server = await redirecting(t, '127.0.0.1', `ws://127.0.0.2:${other.port}/to`);
      const landed = other.landed();
      const client = new impl.WebSocket(`ws://127.0.0.1:${server.port}/from`, {
        followRedirects: true,
        auth: 'user:secret',
      });
      const headers = await landed;
      await once(client, 'close');
      assert.equal(headers.authorization, undefined);
    });
  });
}
