/**
 * Seeded random differential testing of ws-stream/ws against the real `ws` (differential-support.ts):
 * each script runs on a ws server and ws client (the reference), then on ours, and on the two mixed
 * pairs; every normalised trace must equal the reference. The differences doc/ws-compat.md lists
 * under "What differs" are kept out of the traces there, each with the name of its bullet.
 *
 * WSDIFF_SEED=N replays one script; WSDIFF_BASE and WSDIFF_COUNT choose another range (default
 * seeds 1 to 600). A failure prints the script and its seed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeScript, generate, run } from './differential-support.js';
import { compat, type Impl, ws } from './support.js';

const one = process.env.WSDIFF_SEED;
const base = one !== undefined ? Number(one) : Number(process.env.WSDIFF_BASE ?? 1);
const count = one !== undefined ? 1 : Number(process.env.WSDIFF_COUNT ?? 600);
console.log(`differential: seeds ${base} to ${base + count - 1} (WSDIFF_SEED=N replays one)`);

const pairs: [string, Impl, Impl][] = [
  ['ws-stream/ws server and client', compat, compat],
  ['ws server, ws-stream/ws client', ws, compat],
  ['ws-stream/ws server, ws client', compat, ws],
];

describe('differential: ws-stream/ws against ws on random scripts', () => {
  for (let seed = base; seed < base + count; seed++) {
    it(`seed ${seed}`, async () => {
      const reference = await run(generate(seed), ws, ws);
      let compared = 0;
      for (const [name, server, client] of pairs) {
        const trace = await run(generate(seed), server, client);
        assert.deepEqual(
          trace,
          reference,
          `${name} differs from ws (replay: WSDIFF_SEED=${seed})\n${describeScript(generate(seed))}`,
        );
        compared++;
      }
      assert.equal(compared, pairs.length);
    });
  }
});

describe('differential: the comparison sees a difference', () => {
  /** ws's client whose ping() drops its payload: the server's 'ping' events tell. */
  class PingWithoutData extends ws.WebSocket {
    ping(data: unknown, mask?: unknown, cb?: unknown): void {
      super.ping(typeof data === 'function' ? data : undefined, mask, cb);
    }
  }
  const broken: Impl = { ...ws, WebSocket: PingWithoutData };

  it('a client whose ping() drops its payload differs from ws on some of seeds 1 to 50', async () => {
    const differing: number[] = [];
    for (let seed = 1; seed <= 50; seed++) {
      const reference = await run(generate(seed), ws, ws);
      const trace = await run(generate(seed), ws, broken);
      try {
        assert.deepEqual(trace, reference);
      } catch {
        differing.push(seed);
      }
    }
    assert.ok(differing.length > 0, 'no seed showed the broken ping');
    // Same script, same implementations: the traces do not depend on timing.
    assert.deepEqual(await run(generate(differing[0]!), ws, ws), await run(generate(differing[0]!), ws, ws));
  });
});
