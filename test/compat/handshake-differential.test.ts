/**
 * Seeded random differential testing of the opening handshake (handshake-differential-support.ts):
 * each client script runs ws's client and ws-stream/ws's against the same scripted raw servers, each
 * server script sends the same raw request to ws's WebSocketServer and to ws-stream/ws's, and every
 * fourth seed's pair script opens a real client to a real server with random handshake options in the
 * four pairs (ws and ws the reference; ours; ws's server with our client; ours with ws's client); the
 * traces must be equal. What doc/ws-compat.md lists under "What differs" is filtered out below,
 * each filter naming its bullet.
 *
 * HSDIFF_SEED=N replays one seed (its client and its server script); HSDIFF_BASE and HSDIFF_COUNT
 * choose another range (default seeds 1 to 800).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type ClientScript,
  type ClientTrace,
  describeClientScript,
  describeServerScript,
  generateClient,
  generatePair,
  generateServer,
  type PairScript,
  type PairTrace,
  runClient,
  runPair,
  runServer,
  type ServerScript,
  type ServerTrace,
} from './handshake-differential-support.js';
import { compat, type Impl, ws } from './support.js';

const one = process.env.HSDIFF_SEED;
const base = one !== undefined ? Number(one) : Number(process.env.HSDIFF_BASE ?? 1);
const count = one !== undefined ? 1 : Number(process.env.HSDIFF_COUNT ?? 800);
console.log(`handshake differential: seeds ${base} to ${base + count - 1} (HSDIFF_SEED=N replays one)`);

/** Documented differences of the client: the name of the bullet when `ours` differs from `ref` as it says. */
function clientDocumented(script: ClientScript, ref: ClientTrace, ours: ClientTrace): string | null {
  const answer = script.answers[ours.connections.length - 1];
  // "Stricter handshakes": a 101 whose Sec-WebSocket-Extensions names permessage-deflate twice is refused
  // ("Invalid Sec-WebSocket-Extensions header"); ws uses the first.
  if (
    answer?.k === '101' &&
    /permessage-deflate.*,\s*permessage-deflate/.test(answer.extensions ?? '') &&
    ours.events.includes('error:Error::Invalid Sec-WebSocket-Extensions header') &&
    ref.connections.length === ours.connections.length
  )
    return 'Stricter handshakes';
  // "Stricter handshakes": a permessage-deflate answer without the server_no_context_takeover or the
  // server_max_window_bits (at most the offered) the client asked for is refused (RFC 7692 §7.1.1.1, §7.1.2.1).
  const deflate = script.options.perMessageDeflate as Record<string, unknown> | undefined;
  if (
    answer?.k === '101' &&
    typeof deflate === 'object' &&
    ((deflate.serverNoContextTakeover && !/server_no_context_takeover/.test(answer.extensions ?? '')) ||
      (deflate.serverMaxWindowBits !== undefined &&
        !/server_max_window_bits=([89]|10)\b/.test(answer.extensions ?? ''))) &&
    ours.events.includes('error:Error::Invalid Sec-WebSocket-Extensions header') &&
    ref.events.some((e) => e.startsWith('open:'))
  )
    return 'Stricter handshakes';
  return null;
}

/**
 * The same trace with what differs by design made equal: the parameters of the permessage-deflate
 * answer in one order ("The permessage-deflate answer lists its parameters in the core's order"), and
 * with `handleUpgrade` called twice, its throw and the first callback (and the events around them) in
 * one order ("'connection' comes once the 101 was handed to the socket": ws calls back first).
 */
function normaliseServer(script: ServerScript, t: ServerTrace): ServerTrace {
  const response = t.response.map((l) => {
    const m = /^sec-websocket-extensions: (.*)$/.exec(l);
    if (!m) return l;
    const [name, ...params] = m[1]!.split(';').map((p) => p.trim());
    return `sec-websocket-extensions: ${[name, ...params.sort()].join('; ')}`;
  });
  if (!script.twice) return { ...t, response };
  return { events: [...t.events].sort(), thrown: [...t.thrown].sort(), response };
}

/** Documented differences of the server: the name of the bullet when `ours` differs from `ref` as it says. */
function serverDocumented(script: ServerScript, ref: ServerTrace, ours: ServerTrace): string | null {
  // "A `handleProtocols` or 'headers' listener that throws": handleUpgrade throws on both; ws has written
  // nothing, ws-stream/ws answered 500.
  if (
    script.handleProtocols === 'throw' &&
    ref.thrown.some((t) => t.endsWith('handleProtocols threw')) &&
    ours.response[0] === 'HTTP/1.1 500 Internal Server Error'
  ) {
    assert.deepEqual(ours.thrown, ref.thrown);
    assert.deepEqual(ours.events, ref.events);
    return "A `handleProtocols` or 'headers' listener that throws";
  }
  // "Stricter handshakes": `Sec-WebSocket-Version: 8` (or 13 spelt otherwise, as `+` reads it) is refused
  // (426, or the core's error to a wsClientError listener) before verifyClient, where ws opens or verifies.
  const version = script.request.headers.find(([n]) => n === 'Sec-WebSocket-Version')?.[1];
  if (
    version !== undefined &&
    version !== '13' &&
    (+version === 8 || +version === 13) &&
    (ours.response[0] === 'HTTP/1.1 426 Upgrade Required' ||
      ours.events.some((e) => e.startsWith('wsClientError:HandshakeError:ERR_WS_BAD_SEC_VERSION')))
  )
    return 'Stricter handshakes';
  return null;
}

describe('handshake differential: ws-stream/ws against ws on random scripts', () => {
  for (let seed = base; seed < base + count; seed++) {
    it(`seed ${seed}: client`, async () => {
      const script = generateClient(seed);
      const reference = await runClient(script, ws);
      const ours = await runClient(generateClient(seed), compat);
      if (clientDocumented(script, reference, ours) !== null) return;
      assert.deepEqual(
        ours,
        reference,
        `ws-stream/ws's client differs from ws's (replay: HSDIFF_SEED=${seed})\n${describeClientScript(script)}`,
      );
    });
    it(`seed ${seed}: server`, async () => {
      const script = generateServer(seed);
      const reference = normaliseServer(script, await runServer(script, ws));
      const ours = normaliseServer(script, await runServer(generateServer(seed), compat));
      if (serverDocumented(script, reference, ours) !== null) return;
      assert.deepEqual(
        ours,
        reference,
        `ws-stream/ws's server differs from ws's (replay: HSDIFF_SEED=${seed})\n${describeServerScript(script)}`,
      );
    });
  }
});

/**
 * "A client's window below the server's": ws's server refuses the
 * upgrade (400), ours agrees on the client's value.
 */
function pairDocumented(script: PairScript, server: Impl, ref: PairTrace): string | null {
  const ours = script.server.perMessageDeflate as Record<string, unknown> | undefined;
  const theirs = script.client.perMessageDeflate as Record<string, unknown> | undefined;
  if (
    server === compat &&
    typeof ours?.clientMaxWindowBits === 'number' &&
    typeof theirs?.clientMaxWindowBits === 'number' &&
    theirs.clientMaxWindowBits < ours.clientMaxWindowBits &&
    ref.client[0] === 'error:Error::Unexpected server response: 400'
  )
    return "A client's window below the server's";
  return null;
}

const pairs: [string, Impl, Impl][] = [
  ['ws-stream/ws server and client', compat, compat],
  ['ws server, ws-stream/ws client', ws, compat],
  ['ws-stream/ws server, ws client', compat, ws],
];

describe('handshake differential: real clients and servers, mixed, against ws and ws', () => {
  for (let seed = base; seed < base + count; seed += 4) {
    it(`seed ${seed}: pair`, async () => {
      const reference = await runPair(generatePair(seed), ws, ws);
      let compared = 0;
      for (const [name, server, client] of pairs) {
        compared++;
        if (pairDocumented(generatePair(seed), server, reference) !== null) continue;
        assert.deepEqual(
          await runPair(generatePair(seed), server, client),
          reference,
          `${name} differs from ws (replay: HSDIFF_SEED=${seed})\n${JSON.stringify(generatePair(seed))}`,
        );
      }
      assert.equal(compared, pairs.length);
    });
  }
});

describe('handshake differential: the comparison sees a difference', () => {
  /** ws's client that drops the `origin` option: the request the raw server records tells. */
  class NoOrigin extends ws.WebSocket {
    constructor(address: unknown, protocols?: unknown, options?: Record<string, unknown>) {
      if (options === undefined && protocols !== null && typeof protocols === 'object' && !Array.isArray(protocols)) {
        super(address, { ...(protocols as object), origin: undefined });
      } else super(address, protocols, options === undefined ? options : { ...options, origin: undefined });
    }
  }
  /** ws's server whose shouldHandle() takes every path: the answers to a wrong path tell. */
  class AnyPath extends ws.WebSocketServer {
    shouldHandle(): boolean {
      return true;
    }
  }

  it('a client that drops `origin` and a server that ignores `path` differ from ws on some of seeds 1 to 60', async () => {
    const clients: number[] = [];
    const servers: number[] = [];
    for (let seed = 1; seed <= 60; seed++) {
      const c = await runClient(generateClient(seed), { ...ws, WebSocket: NoOrigin });
      try {
        assert.deepEqual(c, await runClient(generateClient(seed), ws));
      } catch {
        clients.push(seed);
      }
      const script = generateServer(seed);
      // Its own shouldHandle would replace the broken one.
      if (script.shouldHandle) continue;
      const s = await runServer(script, { ...ws, WebSocketServer: AnyPath });
      try {
        assert.deepEqual(s, await runServer(generateServer(seed), ws));
      } catch {
        servers.push(seed);
      }
    }
    assert.ok(clients.length > 0, 'no seed showed the dropped origin');
    assert.ok(servers.length > 0, 'no seed showed the ignored path');
    // Same script, same implementation: the traces do not depend on timing.
    assert.deepEqual(
      await runClient(generateClient(clients[0]!), ws),
      await runClient(generateClient(clients[0]!), ws),
    );
    assert.deepEqual(
      await runServer(generateServer(servers[0]!), ws),
      await runServer(generateServer(servers[0]!), ws),
    );
  });
});
