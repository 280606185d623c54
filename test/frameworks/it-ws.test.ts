/**
 * it-ws 6, WebSockets as async-iterable duplex streams (apps/itws.ts, in a child process): its server and its client
 * both import ws themselves (as installed, or ws-stream/ws under the alias). On both engines: 300 seeded chunks
 * (~10 MB, three of 1 MiB) each way at once with slow readers on both sides, in order and intact; an echo of 1,000
 * small chunks; close() ending the source; a refused connection rejecting connected() with ECONNREFUSED.
 */
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

interface Drained {
  chunks: number;
  bytes: number;
  digest: string;
}

const EMPTY = createHash('sha256').digest('hex');
const seed = Number(process.env.SEED ?? Date.now() % 2 ** 31);

for (const engine of aliasEngines) {
  describe(`it-ws on ${engine.name}`, () => {
    it('duplex streaming both ways, echo, close, refused', async (t) => {
      t.diagnostic(`SEED=${seed}`);
      const result = await runApp<Record<string, unknown>>(t, 'itws', engine, { SEED: String(seed) });
      const ours = engine.name === 'ws-stream/ws';
      const duplex = result.duplex as { clientGot: Drained; serverGot: Drained; sent: Drained[] };
      assert.deepEqual(result, {
        clientIsOurs: ours,
        serverIsOurs: ours,
        duplex: { clientGot: duplex.sent[0], serverGot: duplex.sent[1], sent: duplex.sent },
        echo: { chunks: 1000, sameBytes: true },
        closed: { readyState: 3, source: { chunks: 0, bytes: 0, digest: EMPTY } },
        refused: { code: 'ECONNREFUSED', message: true },
      });
    });
  });
}
