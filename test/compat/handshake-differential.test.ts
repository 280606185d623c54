/**
 * Seeded random differential testing of the opening handshake (handshake-differential-support.ts):
 * each client script runs ws's client and ws-stream/ws's against the same scripted raw servers, each
 * server script sends the same raw request to ws's WebSocketServer and to ws-stream/ws's; the
 * traces must be equal. What doc/ws-compat.md lists under "What differs" is filtered out below,
 * each filter naming its bullet.
 *
 * HSDIFF_SEED=N replays one seed (its client and its server script); HSDIFF_BASE and HSDIFF_COUNT
 * choose another range (default seeds 1 to 250).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type ClientScript,
  type ClientTrace,
  describeClientScript,
  describeServerScript,
  generateClient,
  generateServer,
  runClient,
  runServer,
  type ServerScript,
  type ServerTrace,
} from './handshake-differential-support.js';
import { compat, ws } from './support.js';

const one = process.env.HSDIFF_SEED;
const base = one !== undefined ? Number(one) : Number(process.env.HSDIFF_BASE ?? 1);
const count = one !== undefined ? 1 : Number(process.env.HSDIFF_COUNT ?? 250);
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
  return null;
}

/** Documented differences of the server: the name of the bullet when `ours` differs from `ref` as it says. */
function serverDocumented(script: ServerScript, ref: ServerTrace, ours: ServerTrace): string | null {
  // "A listener that throws while the 101 is built": handleUpgrade throws on both; ws has written nothing,
  // ws-stream/ws answered 500.
  if (
    script.handleProtocols === 'throw' &&
    ref.thrown.some((t) => t.endsWith('handleProtocols threw')) &&
    ours.response[0] === 'HTTP/1.1 500 Internal Server Error'
  ) {
    assert.deepEqual(ours.thrown, ref.thrown);
    assert.deepEqual(ours.events, ref.events);
    return 'A listener that throws while the 101 is built';
  }
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
      const reference = await runServer(script, ws);
      const ours = await runServer(generateServer(seed), compat);
      if (serverDocumented(script, reference, ours) !== null) return;
      assert.deepEqual(
        ours,
        reference,
        `ws-stream/ws's server differs from ws's (replay: HSDIFF_SEED=${seed})\n${describeServerScript(script)}`,
      );
    });
  }
});
