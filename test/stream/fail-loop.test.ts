/**
 * Beast's fail-after-N walk: the same scenario (handshake, messages both ways, ping, close) runs
 * again and again with the Nth read or write of the server's next layer failing, N = 1, 2, …,
 * until a run completes without reaching the failure — so every step has failed once. Delivered
 * whole and one byte at a time. Each run must end (no hang) with success or a documented error.
 * No timer of the stream's or the test's ends a run: a failure must end both sides by itself (a
 * run that hangs is failed by the test runner's timeout), so the walk means the same on a loaded
 * machine.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketStream, WebSocketError, createTestPair, type TestLayerOptions } from '../../src/index.js';

const allowed = new Set(['ERR_WS_NEXT_LAYER', 'ERR_WS_EOF', 'ERR_WS_CLOSED', 'ERR_WS_TIMEOUT']);

async function scenario(
  serverLayer: TestLayerOptions,
  readSize?: number,
  deflate = false,
): Promise<{ server: string; client: string; reachedFailure: boolean }> {
  const [a, b] = createTestPair({ ...serverLayer, readSize }, { readSize });
  const perMessageDeflate = deflate ? { threshold: 0 } : false;
  // handshakeTimeout 0 is no limit; closeTimeout has none, so one past the test runner's own.
  const noTimers = { closeTimeout: 600_000, handshakeTimeout: 0, perMessageDeflate };
  const server = new WebSocketStream(a, noTimers);
  const client = new WebSocketStream(b, noTimers);
  const outcome = (p: Promise<unknown>) =>
    p.then(
      () => 'ok',
      (e: unknown) => {
        assert.ok(e instanceof WebSocketError, `not a WebSocketError: ${String(e)}`);
        assert.ok(allowed.has(e.code), `unexpected ${e.code}`);
        return e.code;
      },
    );
  const serverSide = outcome(
    (async () => {
      await server.accept();
      const m1 = await server.read();
      await server.write(m1.data, { binary: m1.binary });
      const m2 = await server.read();
      await server.write(m2.data, { binary: m2.binary });
      await server.ping('p');
      await assert.rejects(server.read(), (e: WebSocketError) => e.code === 'ERR_WS_CLOSED' || allowed.has(e.code));
      const info = await server.whenClosed();
      if (!info.wasClean) throw info.error;
    })(),
  );
  const clientSide = outcome(
    (async () => {
      await client.handshake({ host: 'h' });
      await client.write('one', { binary: false });
      assert.equal((await client.read()).text(), 'one');
      await client.write(Buffer.alloc(300, 2));
      assert.equal((await client.read()).data.length, 300);
      await client.close({ code: 1000, reason: 'done' });
    })(),
  );
  const [s, c] = await Promise.all([serverSide, clientSide]);
  const reachedFailure =
    (serverLayer.failReadAt !== undefined && a.reads >= serverLayer.failReadAt) ||
    (serverLayer.failWriteAt !== undefined && a.writes >= serverLayer.failWriteAt);
  return { server: s, client: c, reachedFailure };
}

describe('every step of the server fails once', () => {
  for (const [readSize, deflate] of [
    [undefined, false],
    [1, false],
    [undefined, true],
    [1, true],
  ] as const) {
    for (const kind of ['failWriteAt', 'failReadAt'] as const) {
      it(`${kind} = 1, 2, … with ${readSize ? '1-byte' : 'whole'} reads${deflate ? ', permessage-deflate on' : ''}`, async () => {
        const base = await scenario({}, readSize, deflate);
        assert.deepEqual([base.server, base.client], ['ok', 'ok'], 'the scenario passes without failures');
        let n = 1;
        for (; n < 2000; n++) {
          const r = await scenario({ [kind]: n }, readSize, deflate);
          if (!r.reachedFailure) {
            assert.deepEqual([r.server, r.client], ['ok', 'ok']);
            break;
          }
          assert.notDeepEqual([r.server, r.client], ['ok', 'ok'], `step ${n} failed yet both sides reported success`);
        }
        assert.ok(n > 1 && n < 2000, `${n} steps`);
        console.log(
          `${kind} with ${readSize ? '1-byte' : 'whole'} reads${deflate ? ' and deflate' : ''}: every one of ${n - 1} steps failed once`,
        );
      });
    }
  }
});
