/**
 * Random sessions over the test layer from a printed seed (SEED=… replays): reads, readSome,
 * writes, fragmented writes, pings and a close, each with an AbortSignal that may fire in the same
 * turn or the next, permessage-deflate on or off, pieces of 1–9 bytes or whole, and the server's
 * Nth read or write failing. Every operation completes exactly once with success or a
 * WebSocketError, both ends close (no hang: the close timeout is out of reach), nothing is thrown
 * out of an event, and no timer is left.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { type Callback, WebSocketError, WebSocketStream, createTestPair } from '../../src/index.js';
import { random } from '../support/random.js';

const RUNS = 200;

it(`${RUNS} random sessions with aborts and a failing layer: every operation completes once, typed`, {
  timeout: 300_000,
}, async () => {
  const seed = Number(process.env.SEED ?? Date.now() % 100000);
  console.log(`seed ${seed} (SEED=${seed} replays it)`);
  const thrown: unknown[] = [];
  const onThrow = (e: unknown): void => {
    thrown.push(e);
  };
  process.on('uncaughtException', onThrow);
  process.on('unhandledRejection', onThrow);
  try {
    for (let run = 0; run < RUNS; run++) {
      const rnd = random(seed + run);
      const deflate = rnd() < 0.5;
      const fault =
        rnd() < 0.5
          ? {}
          : rnd() < 0.5
            ? { failWriteAt: 1 + Math.floor(rnd() * 12) }
            : { failReadAt: 1 + Math.floor(rnd() * 30) };
      const readSize = rnd() < 0.5 ? undefined : 1 + Math.floor(rnd() * 9);
      const where = `run ${run} (seed ${seed + run}): ${JSON.stringify({ deflate, fault, readSize })}`;
      const [a, b] = createTestPair({ ...fault, readSize }, { readSize });
      const options = {
        closeTimeout: 600_000,
        handshakeTimeout: 0,
        perMessageDeflate: deflate ? { threshold: 0 } : false,
      };
      const server = new WebSocketStream(a, options);
      const client = new WebSocketStream(b, options);
      const ops: { name: string; calls: number; err: unknown }[] = [];
      let waiting: (() => void) | null = null;
      const track = <T>(name: string, then?: (v: T) => void): Callback<T> => {
        const op = { name, calls: 0, err: null as unknown };
        ops.push(op);
        return (err, v) => {
          op.calls++;
          op.err = err;
          if (op.calls === 1 && err === null) then?.(v as T);
          if (ops.every((o) => o.calls > 0)) waiting?.();
        };
      };
      const signal = (): AbortSignal => {
        const ctl = new AbortController();
        const r = rnd();
        if (r < 0.2) setImmediate(() => ctl.abort());
        else if (r < 0.4) queueMicrotask(() => ctl.abort());
        return ctl.signal;
      };
      // The server echoes whatever it reads, until its reads end (an aborted read is tried again).
      const serverRead = (): void =>
        server.read({ signal: signal() }, (err, m) => {
          track('server read')(err, m);
          if (m) server.write(m.data, { binary: m.binary, signal: signal() }, track('server write'));
          if (err === null || err.code === 'ERR_WS_ABORTED') serverRead();
        });
      server.accept(track('accept', serverRead));
      client.handshake(
        { host: 'h' },
        track('handshake', () => {
          for (let i = 0; i < 6; i++) {
            const r = rnd();
            if (r < 0.3) client.write(Buffer.alloc(Math.floor(rnd() * 3000), i), { signal: signal() }, track('write'));
            else if (r < 0.45) {
              client.writeSome('ab', { fin: false, signal: signal() }, track('writeSome'));
              client.writeSome('cd', { fin: true, signal: signal() }, track('writeSome fin'));
            } else if (r < 0.6) client.ping('x', { signal: signal() }, track('ping'));
            else if (r < 0.8) client.read({ signal: signal() }, track('read'));
            else client.readSome({ signal: signal() }, track('readSome'));
          }
          client.close({ code: 1000, ...(rnd() < 0.2 ? { signal: signal() } : {}) }, track('close'));
        }),
      );
      await Promise.all([server.whenClosed(), client.whenClosed()]);
      if (!ops.every((o) => o.calls > 0)) await new Promise<void>((r) => (waiting = r));
      await new Promise((r) => setImmediate(r)); // a second completion would come no later
      for (const op of ops) {
        assert.equal(op.calls, 1, `${where}: ${op.name} completed ${op.calls} times`);
        if (op.err !== null) assert.ok(op.err instanceof WebSocketError, `${where}: ${op.name}: ${String(op.err)}`);
      }
      assert.deepEqual(thrown, [], where);
    }
    assert.deepEqual(
      process.getActiveResourcesInfo().filter((r) => r === 'Timeout'),
      [],
      'no timer left',
    );
  } finally {
    process.off('uncaughtException', onThrow);
    process.off('unhandledRejection', onThrow);
  }
});
