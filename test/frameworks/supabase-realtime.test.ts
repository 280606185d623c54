/**
 * Supabase Realtime's client (@supabase/realtime-js 2.109, over its fork of phoenix) on each engine, given as its
 * `transport` as Supabase tells Node 20 users to (no global WebSocket there), against a local server speaking its
 * wire format on the real ws (phoenix-server.ts: JSON arrays, and Supabase's binary user broadcasts). The flow, as an
 * app uses it: a channel with broadcast (self, ack), presence and a postgres_changes binding subscribed; broadcasts
 * sent as JSON and as bytes (binary frames both ways, acked, echoed to self) and one from the server as text; `track`
 * and the presence sync; a row insert delivered and typed by the client; `setAuth`; a dropped connection
 * (CHANNEL_ERROR, then reconnected and resubscribed with the new token); `unsubscribe` (CLOSED) and `disconnect`.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RealtimeClient } from '@supabase/realtime-js';
import { engines } from './engines.js';
import { type PhoenixConnection, type PhoenixMessage, startPhoenixServer } from './phoenix-server.js';

/** Values pushed by callbacks, awaited in order. */
function events<T>() {
  const items: T[] = [];
  const waiters: ((v: T) => void)[] = [];
  return {
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

const topic = 'realtime:room-1';

for (const engine of engines) {
  describe(`@supabase/realtime-js on ${engine.name}`, () => {
    /** What the server got that was not a heartbeat, in order (payload bytes as a list). */
    const received: unknown[] = [];
    const joinRefs = new Map<PhoenixConnection, string | null>();
    const serverStarted = startPhoenixServer('/realtime/v1', (conn, m: PhoenixMessage) => {
      const payload = m.payload as Record<string, unknown>;
      const inner = payload.payload;
      received.push([m.topic, m.event, inner instanceof Uint8Array ? { ...payload, payload: [...inner] } : m.payload]);
      if (m.event === 'phx_join') {
        joinRefs.set(conn, m.joinRef);
        conn.reply(m, 'ok', { postgres_changes: [{ id: 42, event: 'INSERT', schema: 'public', table: 'todos' }] });
        conn.push({ joinRef: m.joinRef, ref: null, topic: m.topic, event: 'presence_state', payload: {} });
      } else if (m.event === 'broadcast') {
        conn.reply(m, 'ok');
        const b = payload as { event: string; payload: unknown };
        conn.userBroadcast(m.topic, b.event, b.payload);
      } else if (m.event === 'presence') {
        conn.reply(m, 'ok');
        const metas = [{ phx_ref: 'p1', ...(payload.payload as object) }];
        conn.push({
          joinRef: m.joinRef,
          ref: null,
          topic: m.topic,
          event: 'presence_diff',
          payload: { joins: { ada: { metas } }, leaves: {} },
        });
      } else if (m.event === 'phx_leave') {
        conn.reply(m, 'ok');
        conn.push({ joinRef: m.joinRef, ref: m.joinRef, topic: m.topic, event: 'phx_close', payload: {} });
      }
    });
    after(async () => (await serverStarted).close());

    it('subscribes, broadcasts JSON and bytes, tracks presence, gets a row, resubscribes after a drop', async (t) => {
      const server = await serverStarted;
      const client = new RealtimeClient(server.url, {
        params: { apikey: 'anon-key' },
        transport: engine.WebSocket as never,
        accessToken: async () => 'jwt-1',
        heartbeatIntervalMs: 60_000,
        reconnectAfterMs: () => 5,
      });
      // Whatever happens, the client stops reconnecting when the test ends (or the process would not).
      t.after(() => client.disconnect());
      const channel = client.channel('room-1', {
        config: { broadcast: { self: true, ack: true }, presence: { key: 'ada' } },
      });
      const statuses = events<string>();
      const broadcasts = events<unknown>();
      const syncs = events<unknown>();
      const changes = events<unknown>();
      channel
        .on('broadcast', { event: 'cursor' }, (m) => broadcasts.push(m))
        .on('presence', { event: 'sync' }, () => syncs.push(channel.presenceState()))
        .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'todos' }, (p) => changes.push(p))
        .subscribe((status, err) => statuses.push(err ? `${status} ${err.message}` : status));
      assert.equal(await statuses.next(), 'SUBSCRIBED');
      const first = await server.connected(1);
      assert.equal(first.params.get('apikey'), 'anon-key');
      assert.equal(first.params.get('vsn'), '2.0.0');
      assert.equal(first.socket.extensions, 'permessage-deflate');

      // Broadcasts: JSON and bytes from the client (acked, then echoed to self), JSON text from the server.
      assert.equal(await channel.send({ type: 'broadcast', event: 'cursor', payload: { x: 1, y: 2 } }), 'ok');
      assert.deepEqual(await broadcasts.next(), { type: 'broadcast', event: 'cursor', payload: { x: 1, y: 2 } });
      const bytes = new Uint8Array([0, 1, 2, 255]).buffer;
      assert.equal(await channel.send({ type: 'broadcast', event: 'cursor', payload: bytes }), 'ok');
      const binary = (await broadcasts.next()) as { payload: ArrayBuffer };
      assert.equal(binary.payload.constructor, ArrayBuffer);
      assert.deepEqual([...new Uint8Array(binary.payload)], [0, 1, 2, 255]);
      first.push({
        joinRef: null,
        ref: null,
        topic,
        event: 'broadcast',
        payload: { type: 'broadcast', event: 'cursor', payload: { from: 'server' } },
      });
      assert.deepEqual(await broadcasts.next(), { type: 'broadcast', event: 'cursor', payload: { from: 'server' } });

      // Presence: the state on join, then our own track.
      assert.deepEqual(await syncs.next(), {});
      assert.equal(await channel.track({ online_at: 'now' }), 'ok');
      assert.deepEqual(await syncs.next(), { ada: [{ presence_ref: 'p1', online_at: 'now' }] });

      // A row inserted: matched to the binding by the id the server gave it, and typed by its columns.
      first.push({
        joinRef: joinRefs.get(first) ?? null,
        ref: null,
        topic,
        event: 'postgres_changes',
        payload: {
          ids: [42],
          data: {
            type: 'INSERT',
            schema: 'public',
            table: 'todos',
            commit_timestamp: '2026-12-06T08:00:00Z',
            columns: [
              { name: 'id', type: 'int4' },
              { name: 'title', type: 'text' },
              { name: 'done', type: 'bool' },
            ],
            record: { id: '7', title: 'milk', done: 'f' },
            errors: null,
          },
        },
      });
      assert.deepEqual(await changes.next(), {
        schema: 'public',
        table: 'todos',
        commit_timestamp: '2026-12-06T08:00:00Z',
        eventType: 'INSERT',
        new: { id: 7, title: 'milk', done: false },
        old: {},
        errors: null,
      });

      await client.setAuth('jwt-2');

      // A dropped connection: the channel errors, the client reconnects and resubscribes with the token it has now.
      first.socket.terminate();
      assert.match(await statuses.next(), /^CHANNEL_ERROR/);
      assert.equal(await statuses.next(), 'SUBSCRIBED');
      const second = await server.connected(2);
      second.push({
        joinRef: null,
        ref: null,
        topic,
        event: 'broadcast',
        payload: { type: 'broadcast', event: 'cursor', payload: { from: 'server', again: true } },
      });
      assert.deepEqual(await broadcasts.next(), {
        type: 'broadcast',
        event: 'cursor',
        payload: { from: 'server', again: true },
      });

      assert.equal(await channel.unsubscribe(), 'ok');
      assert.equal(await statuses.next(), 'CLOSED');
      await client.disconnect(1000, 'done');
      assert.deepEqual(await server.closed(2), ['1006 ', '1000 done']);

      const config = {
        broadcast: { self: true, ack: true },
        presence: { key: 'ada', enabled: true },
        postgres_changes: [{ event: 'INSERT', schema: 'public', table: 'todos' }],
        private: false,
      };
      assert.deepEqual(received, [
        // The first join went out on open, before the accessToken callback's answer.
        [topic, 'phx_join', { config }],
        [topic, 'broadcast', { type: 'broadcast', event: 'cursor', payload: { x: 1, y: 2 } }],
        [topic, 'broadcast', { type: 'broadcast', event: 'cursor', payload: [0, 1, 2, 255] }],
        [topic, 'presence', { type: 'presence', event: 'track', payload: { online_at: 'now' } }],
        // setAuth changed the join payload: the rejoin after the drop carries the token.
        [topic, 'phx_join', { config, access_token: 'jwt-2', version: 'realtime-js/2.109.0' }],
        [topic, 'phx_leave', {}],
      ]);
    });
  });
}
