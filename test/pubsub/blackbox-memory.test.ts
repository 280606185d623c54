/** The black-box protocol suite against `serve --pubsub` on its in-memory broker, and its HTTP side. */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, it } from 'node:test';
import { startServer } from '../conformance/raw-client.js';
import { cont, ping, text } from '../support/frames.js';
import { type Server, message, protocolSuite, subscribe } from './blackbox-support.js';
import { JsonClient } from './pubsub-support.js';

protocolSuite({ name: 'serve --pubsub (in memory)', setup: async () => ({ args: [], teardown: async () => {} }) });

let server: Server;
before(async () => {
  server = await startServer(['--pubsub']);
});
after(() => server.stop());

it('reads a request sent in fragments; a frame over readMessageMax (16 MiB) closes with 1009', async () => {
  const c = await JsonClient.connect(server.port);
  try {
    c.sendRaw(
      Buffer.concat([
        text('{"op":"subscribe",', { fin: false }),
        cont('"topic":', { fin: false }),
        ping('mid'),
        cont('"frag"}'),
      ]),
    );
    assert.deepEqual(await c.next(), { op: 'subscribed', topic: 'frag', offset: 0, epoch: (await epochOf()).epoch });
    c.send({ op: 'publish', topic: 'frag', data: 'x'.repeat(16 * 1024 * 1024) });
    await c.closed();
    assert.equal(c.closeCode, 1009);
  } finally {
    c.close();
  }
});

it('in memory, requests in one chunk act in order: published before an unsubscribe is delivered, after it not, after a new subscribe again', async () => {
  const c = await JsonClient.connect(server.port);
  const other = await JsonClient.connect(server.port);
  try {
    const r = await subscribe(c, 'chunk');
    await subscribe(other, 'chunk');
    const req = (o: unknown) => text(JSON.stringify(o));
    c.sendRaw(
      Buffer.concat([
        req({ op: 'publish', topic: 'chunk', data: 'a' }),
        req({ op: 'unsubscribe', topic: 'chunk' }),
        req({ op: 'publish', topic: 'chunk', data: 'b' }),
        req({ op: 'subscribe', topic: 'chunk' }),
        req({ op: 'publish', topic: 'chunk', data: 'c' }),
      ]),
    );
    assert.equal(await message(c, 'chunk', r.offset + 1), 'a');
    assert.deepEqual(await c.next(), { op: 'subscribed', topic: 'chunk', offset: r.offset + 2, epoch: r.epoch });
    assert.equal(await message(c, 'chunk', r.offset + 3), 'c');
    for (const [i, d] of ['a', 'b', 'c'].entries()) assert.equal(await message(other, 'chunk', r.offset + 1 + i), d);
  } finally {
    c.close();
    other.close();
  }
});

/** The server's epoch, as a fresh connection's subscribe reports it. */
async function epochOf(): Promise<{ epoch: string }> {
  const c = await JsonClient.connect(server.port);
  c.send({ op: 'subscribe', topic: 'epoch' });
  const r = await c.next();
  c.close();
  return r;
}

/** One plain HTTP request; resolves with its status, content type and body. */
function request(method: string, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, method, path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

it('serves the chat page to GET and HEAD of / (and /index.html, with a query), and 404 elsewhere', async () => {
  for (const path of ['/', '/index.html', '/?room=lobby&name=ann']) {
    const get = await request('GET', path);
    assert.equal(get.status, 200, path);
    assert.match(get.type, /^text\/html/);
    assert.match(get.body, /<title>ws-stream chat<\/title>/);
    const head = await request('HEAD', path);
    assert.equal(head.status, 200, `HEAD ${path}`);
    assert.match(head.type, /^text\/html/);
    assert.equal(head.body, '');
  }
  for (const [method, path] of [
    ['GET', '/nope'],
    ['GET', '/index.htm'],
    ['POST', '/nope'],
  ]) {
    const res = await request(method!, path!);
    assert.equal(res.status, 404, `${method} ${path}`);
  }
});
