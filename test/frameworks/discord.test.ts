/**
 * @discordjs/ws 2.0 (discord.js's gateway client), whose shards open `new WebSocket(url, [], { handshakeTimeout })`
 * from `ws` with binaryType 'arraybuffer' and the on* properties, run with `ws` as installed and aliased to
 * ws-stream/ws (test/support/ws-alias.ts) in a child process each (apps/discord.ts), against a local gateway written
 * with ws-stream/ws's WebSocketServer (the same in both runs) that speaks Discord's protocol with zlib-stream
 * compression. Both must show the same: the REST lookup of the gateway then IDENTIFY and READY, dispatches (a large
 * one split across two binary messages), the bot's presence update, a heartbeat asked for and acknowledged, RECONNECT
 * (closed with 4200 and its reason, RESUME at the resume URL with the last sequence, the missed event replayed), a
 * gateway close with 4000 (resumed again), INVALID_SESSION (closed with 1000; the next upgrade is left unanswered, which
 * the shard's handshakeTimeout ends as a socket error and a 1006, then IDENTIFY anew) and destroy()'s code and reason.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';
import { describeEachEngine } from './side-by-side.js';

describeEachEngine(aliasEngines, '@discordjs/ws', (engine) => {
  it('identifies, receives compressed dispatches, heartbeats, resumes after RECONNECT and 4000, re-identifies', async (t) => {
    const result = await runApp<Record<string, unknown>>(t, 'discord', engine);
    const ours = engine.name === 'ws-stream/ws';
    const query = '?v=10&encoding=json&compress=zlib-stream';
    assert.deepEqual(result, {
      aliased: ours,
      identify: { request: `/${query}`, op: 2, token: 'bot-token', intents: 513, shard: [0, 1], compress: false },
      ready: ['ready s1', 'READY', 1, 's1'],
      clientIsOurs: ours,
      running: {
        message: ['MESSAGE_CREATE', 2, { content: 'héllo' }],
        guild: ['GUILD_CREATE', 3, 300_000],
        presence: { op: 3, d: { status: 'idle', since: null, activities: [], afk: true } },
        heartbeat: [3, 'acknowledged true'],
      },
      reconnect: {
        closed: [4200, 'Told to reconnect by Discord'],
        request: `/resume${query}`,
        resume: { op: 6, d: { token: 'bot-token', seq: 3, session_id: 's1' } },
        replayed: ['MESSAGE_CREATE', 4, { content: 'missed' }],
        event: 'resumed',
      },
      closed4000: {
        request: `/resume${query}`,
        resume: { op: 6, d: { token: 'bot-token', seq: 5, session_id: 's1' } },
        event: 'resumed',
      },
      // The first attempt after it: its upgrade unanswered until the 1 s handshakeTimeout (1006, a socket error).
      stalled: 'left unanswered, then ended by the bot',
      invalid: { closed: [1000, 'Invalid session'], request: `/${query}`, op: 2, event: 'ready s2' },
      destroyed: [1000, 'shutting down'],
      closes: [4200, 4000, 1000, 1006, 1000],
      errors: ['socket Opening handshake has timed out'],
    });
  });
});
