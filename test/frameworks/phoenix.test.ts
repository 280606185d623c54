/**
 * The Phoenix channels client (phoenix 1.8) on each engine: `new Socket(url, { transport: WebSocket })`, the way it
 * runs in Node 20 (which has no global WebSocket), against a local server speaking Phoenix's wire format on the real
 * ws (phoenix-server.ts). phoenix drives the engine through its browser-style API only: `onopen`/`onmessage`/
 * `onclose`/`onerror`, `binaryType = 'arraybuffer'` (it tests `data.constructor === ArrayBuffer`), `readyState`,
 * `bufferedAmount`, subprotocols (its auth token rides in Sec-WebSocket-Protocol). The flow: join with a reply, a
 * refused join, a push answered and broadcast, a binary push answered with a binary reply and a binary broadcast, a
 * push that times out, `socket.ping`, two losses (a drop, then a close with 4000) each followed by the client's
 * reconnect and rejoin, `leave`, and `disconnect` with a code.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { engines } from './engines.js';
import { type PhoenixMessage, startPhoenixServer } from './phoenix-server.js';

/** What these tests use of phoenix (it ships no types). */
interface Push {
  receive(status: string, f: (response: never) => void): Push;
}
interface Channel {
  state: string;
  join(): Push;
  leave(): Push;
  push(event: string, payload: unknown, timeout?: number): Push;
  on(event: string, f: (payload: never) => void): number;
  onClose(f: () => void): void;
  onError(f: (reason: unknown) => void): void;
}
interface PhoenixSocket {
  connect(): void;
  disconnect(callback?: () => void, code?: number, reason?: string): void;
  channel(topic: string, params?: object): Channel;
  onOpen(f: () => void): void;
  onClose(f: (event: { code: number; reason: string; wasClean: boolean }) => void): void;
  onError(f: (error: unknown) => void): void;
  ping(f: (latency: number) => void): boolean;
  isConnected(): boolean;
}
const { Socket } = createRequire(import.meta.url)('phoenix') as {
  Socket: new (endPoint: string, options: object) => PhoenixSocket;
};

/** Resolves with a push's reply of any of `statuses`, as `status payload`. */
function reply(push: Push, ...statuses: string[]): Promise<unknown> {
  return new Promise((resolve) => {
    for (const status of statuses) push.receive(status, (response) => resolve({ [status]: response }));
  });
}

/** Values pushed by callbacks, awaited in order. */
function events<T>() {
  const items: T[] = [];
  const waiters: ((v: T) => void)[] = [];
  return {
    items,
    push(v: T) {
      const w = waiters.shift();
      if (w) w(v);
      else items.push(v);
    },
    next: (): Promise<T> => {
      const v = items.shift();
      return v !== undefined ? Promise.resolve(v) : new Promise((resolve) => waiters.push(resolve));
    },
  };
}

for (const engine of engines) {
  describe(`phoenix 1.8 channels client on ${engine.name}`, () => {
    const joins: string[] = [];
    const binaryPushes: string[] = [];
    const serverStarted = startPhoenixServer('/socket', (conn, m: PhoenixMessage) => {
      if (m.event === 'phx_join') {
        joins.push(`${m.topic} ${JSON.stringify(m.payload)}`);
        if (m.topic === 'room:secret') conn.reply(m, 'error', { reason: 'unauthorized' });
        else conn.reply(m, 'ok', { welcome: (m.payload as { name: string }).name });
      } else if (m.event === 'shout') {
        conn.reply(m, 'ok', { heard: (m.payload as { body: string }).body });
        conn.push({ joinRef: m.joinRef, ref: null, topic: m.topic, event: 'new_msg', payload: m.payload });
      } else if (m.event === 'upload') {
        const bytes = m.payload as Uint8Array;
        binaryPushes.push(`${m.topic} ${m.event} ${[...bytes].join(',')}`);
        conn.replyBinary(m, 'ok', bytes.slice().reverse());
        conn.broadcastBinary(m.topic, 'uploaded', new Uint8Array([bytes.length, 0xff, 0x00]));
      } else if (m.event === 'phx_leave') {
        conn.reply(m, 'ok');
        conn.push({ joinRef: m.joinRef, ref: m.joinRef, topic: m.topic, event: 'phx_close', payload: {} });
      }
      // 'ignored' gets no reply: the client's push times out.
    });
    after(async () => (await serverStarted).close());

    it('joins, pushes text and binary, reconnects and rejoins after a drop and a 4000, leaves, disconnects', async (t) => {
      const server = await serverStarted;
      const socket = new Socket(server.url, {
        transport: engine.WebSocket,
        params: { token: 'abc' },
        authToken: 'sesame',
        reconnectAfterMs: () => 5,
        rejoinAfterMs: () => 5,
        heartbeatIntervalMs: 60_000,
      });
      // Whatever happens, the client stops reconnecting when the test ends (or the process would not).
      t.after(() => socket.disconnect());
      const opens = events<string>();
      const closes = events<string>();
      socket.onOpen(() => opens.push('open'));
      socket.onClose((e) => closes.push(`${e.code} ${e.reason} ${e.wasClean}`));
      socket.connect();
      await opens.next();
      const first = await server.connected(1);
      assert.equal(first.params.get('token'), 'abc');
      assert.equal(first.params.get('vsn'), '2.0.0');
      assert.equal(first.socket.protocol, 'phoenix');
      assert.equal(first.socket.extensions, 'permessage-deflate');

      const lobby = socket.channel('room:lobby', { name: 'ada' });
      const messages = events<string>();
      lobby.on('new_msg', (p: { body: string }) => messages.push(p.body));
      const uploaded = events<string>();
      lobby.on('uploaded', (p: ArrayBuffer) =>
        uploaded.push(`${p.constructor.name} ${[...new Uint8Array(p)].join(',')}`),
      );
      assert.deepEqual(await reply(lobby.join(), 'ok', 'error'), { ok: { welcome: 'ada' } });
      // A refused join; left at once, or the client would keep rejoining it.
      const secret = socket.channel('room:secret');
      assert.deepEqual(await reply(secret.join(), 'ok', 'error'), { error: { reason: 'unauthorized' } });
      secret.leave();

      assert.deepEqual(await reply(lobby.push('shout', { body: 'héllo' }), 'ok', 'error'), { ok: { heard: 'héllo' } });
      assert.equal(await messages.next(), 'héllo');

      // Binary both ways: an ArrayBuffer payload goes as a binary push; the reply and a broadcast come back binary.
      const binaryReply = (await reply(lobby.push('upload', new Uint8Array([1, 2, 3, 250]).buffer), 'ok')) as {
        ok: ArrayBuffer;
      };
      assert.equal(binaryReply.ok.constructor, ArrayBuffer);
      assert.deepEqual([...new Uint8Array(binaryReply.ok)], [250, 3, 2, 1]);
      assert.equal(await uploaded.next(), 'ArrayBuffer 4,255,0');
      assert.deepEqual(binaryPushes, ['room:lobby upload 1,2,3,250']);

      assert.deepEqual(await reply(lobby.push('ignored', {}, 100), 'ok', 'timeout'), { timeout: {} });
      const latency = await new Promise<number>((resolve) => socket.ping(resolve));
      assert.equal(typeof latency, 'number');

      // A dropped connection, then one closed with 4000: each time the client reconnects and rejoins on its own.
      first.socket.terminate();
      assert.equal(await closes.next(), '1006  false');
      await opens.next();
      const second = await server.connected(2);
      assert.deepEqual(await reply(lobby.push('shout', { body: 'back' }), 'ok'), { ok: { heard: 'back' } });
      assert.equal(await messages.next(), 'back');
      second.socket.close(4000, 'go away');
      assert.equal(await closes.next(), '4000 go away true');
      await opens.next();
      await server.connected(3);
      assert.deepEqual(await reply(lobby.push('shout', { body: 'again' }), 'ok'), { ok: { heard: 'again' } });
      assert.equal(await messages.next(), 'again');
      assert.deepEqual(joins, [
        'room:lobby {"name":"ada"}',
        'room:secret {}',
        'room:lobby {"name":"ada"}',
        'room:lobby {"name":"ada"}',
      ]);

      const left = new Promise<string>((resolve) => lobby.onClose(() => resolve(lobby.state)));
      assert.deepEqual(await reply(lobby.leave(), 'ok'), { ok: {} });
      assert.equal(await left, 'closed');

      await new Promise<void>((resolve) => socket.disconnect(resolve, 1000, 'done'));
      assert.equal(await closes.next(), '1000 done true');
      assert.deepEqual(await server.closed(3), ['1006 ', '4000 go away', '1000 done']);
      assert.equal(socket.isConnected(), false);
    });
  });
}
