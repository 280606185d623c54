/**
 * Fail-after-N over a whole session, in both roles: a scripted session (handshake, text and
 * binary messages with and without permessage-deflate, a message in fragments, pings both ways,
 * the close handshake) runs over the test layer with the Nth read or write of ONE side's layer
 * failing, for N = 1, 2, … until a run no longer reaches N. Every operation is issued with a
 * callback, several of them pending at once, so each run checks that every operation completed
 * exactly once and with a WebSocketError of a documented code, that each side ended cleanly or
 * with one typed error, that nothing was thrown out of an event or left as an unhandled
 * rejection, and (once per walk, after a forced GC) that no stream of any run is still held —
 * by the shared timeout ticker, the zlib limiter or anything else.
 * The stream's own timers are set out of reach (handshake none, close 10 min): a failure must end
 * both sides by itself, so the walk means the same on a loaded machine.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import {
  type CloseInfo,
  WebSocketError,
  WebSocketStream,
  createTestPair,
  type TestLayerOptions,
} from '../../src/index.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const allowed = new Set(['ERR_WS_NEXT_LAYER', 'ERR_WS_EOF', 'ERR_WS_CLOSED']);
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Operations issued in one run: how often each one's callback came, and with what. */
class Ledger {
  readonly ops: { name: string; calls: number; err: unknown }[] = [];
  track<T>(name: string, then?: (v: T) => void): (err: WebSocketError | null, v?: T) => void {
    const op = { name, calls: 0, err: null as unknown };
    this.ops.push(op);
    return (err, v) => {
      op.calls++;
      if (this.pending === 0) for (const w of this.waiters.splice(0)) w();
      op.err = err;
      if (op.calls === 1 && err === null) then?.(v as T);
    };
  }
  private readonly waiters: (() => void)[] = [];
  allDone(): Promise<void> {
    return this.pending === 0 ? Promise.resolve() : new Promise((r) => this.waiters.push(r));
  }
  get pending(): number {
    return this.ops.filter((o) => o.calls === 0).length;
  }
}

interface Run {
  server: CloseInfo;
  client: CloseInfo;
  /** Messages the client read back (as text or length), in order. */
  echoes: string[];
  reachedFailure: boolean;
  refs: WeakRef<object>[];
}

const BIN = Buffer.alloc(300, 7);
const BIG = Buffer.from('abcdefgh'.repeat(250)); // 2,000 bytes: compresses well, several reads at 7 bytes

type Mode = 'burst' | 'lockstep';

async function session(
  failing: 'server' | 'client',
  fault: TestLayerOptions,
  readSize: number | undefined,
  deflate: boolean,
  mode: Mode,
): Promise<Run> {
  const [a, b] = createTestPair(
    { ...(failing === 'server' ? fault : {}), readSize },
    { ...(failing === 'client' ? fault : {}), readSize },
  );
  const options = { closeTimeout: 600_000, handshakeTimeout: 0, perMessageDeflate: deflate ? { threshold: 0 } : false };
  const server = new WebSocketStream(a, options);
  const client = new WebSocketStream(b, options);
  const ledger = new Ledger();
  const echoes: string[] = [];

  // Server: echo every message as it came (the fragmented one in two parts), ping once after the first.
  let pinged = false;
  const serverRead = (): void =>
    server.read(
      ledger.track('server read', (m: { data: Buffer; binary: boolean; text(): string }) => {
        if (!m.binary && m.text() === 'fragment') {
          server.writeSome('frag', { fin: false }, ledger.track('server writeSome 1'));
          server.writeSome('ment', { fin: true }, ledger.track('server writeSome 2'));
        } else {
          server.write(m.data, { binary: m.binary }, ledger.track('server write'));
        }
        if (!pinged) {
          pinged = true;
          server.ping('sp', ledger.track('server ping'));
        }
        serverRead();
      }),
    );
  server.accept(ledger.track('accept', serverRead));

  // Client: four messages (the second in three fragments with a ping between them), written all
  // at once ('burst') or each after the echo of the one before ('lockstep'); after the fourth echo, close.
  const steps = [
    () => client.write('one', ledger.track('client write text')),
    () => {
      client.writeSome('fra', { fin: false }, ledger.track('client writeSome 1'));
      client.ping('cp', ledger.track('client ping'));
      client.writeSome('gm', { fin: false }, ledger.track('client writeSome 2'));
      client.writeSome('ent', { fin: true }, ledger.track('client writeSome 3'));
    },
    () => client.write(BIN, { compress: false }, ledger.track('client write binary')),
    () => client.write(BIG, { binary: true }, ledger.track('client write big')),
  ];
  const clientRead = (): void =>
    client.read(
      ledger.track('client read', (m: { data: Buffer; binary: boolean; text(): string }) => {
        echoes.push(m.binary ? `bin ${m.data.length}` : m.text());
        if (echoes.length === 4) client.close({ code: 1000, reason: 'done' }, ledger.track('client close'));
        else {
          if (mode === 'lockstep') steps[echoes.length]!();
          clientRead();
        }
      }),
    );
  client.handshake(
    { host: 'h' },
    ledger.track('handshake', () => {
      if (mode === 'burst') for (const step of steps) step();
      else steps[0]!();
      clientRead();
    }),
  );

  const [serverInfo, clientInfo] = await Promise.all([server.whenClosed(), client.whenClosed()]);
  // Both closed: every operation must have completed by now or within a few turns (the
  // completion of the last ones may be one turn behind the close).
  // Writes still compressing when the layer closed complete once zlib hands them back, after
  // the close: wait for that (an operation that never completes hangs the walk: the test times out).
  await ledger.allDone();
  await turn(); // a second completion would come no later than this
  await turn();
  const where = `${failing} ${JSON.stringify(fault)} readSize ${readSize} deflate ${deflate} ${mode}`;
  for (const op of ledger.ops) {
    assert.equal(op.calls, 1, `${where}: ${op.name} completed ${op.calls} times`);
    if (op.err !== null) {
      assert.ok(op.err instanceof WebSocketError, `${where}: ${op.name} failed with ${String(op.err)}`);
      assert.ok(allowed.has(op.err.code), `${where}: ${op.name} failed with ${op.err.code}`);
    }
  }
  for (const [side, info] of [
    ['server', serverInfo],
    ['client', clientInfo],
  ] as const) {
    if (!info.wasClean) {
      assert.ok(info.error instanceof WebSocketError, `${where}: ${side} ended unclean without a typed error`);
      assert.ok(allowed.has(info.error.code), `${where}: ${side} ended with ${info.error.code}`);
    }
  }
  const layer = failing === 'server' ? a : b;
  const reachedFailure =
    (fault.failReadAt !== undefined && layer.reads >= fault.failReadAt) ||
    (fault.failWriteAt !== undefined && layer.writes >= fault.failWriteAt);
  return {
    server: serverInfo,
    client: clientInfo,
    echoes,
    reachedFailure,
    refs: [new WeakRef(server), new WeakRef(client), new WeakRef(a), new WeakRef(b)],
  };
}

const EXPECTED = ['one', 'fragment', 'bin 300', 'bin 2000'];

describe('fail-after-N over every read and write of a whole session, both roles', { timeout: 600_000 }, () => {
  const thrown: unknown[] = [];
  const onThrow = (e: unknown): void => {
    thrown.push(e);
  };
  for (const failing of ['server', 'client'] as const) {
    for (const [deflate, mode] of [
      [false, 'burst'],
      [true, 'burst'],
      [false, 'lockstep'],
      [true, 'lockstep'],
    ] as const) {
      for (const [kind, readSize] of [
        ['failWriteAt', undefined],
        ['failReadAt', undefined],
        ['failReadAt', 7],
      ] as const) {
        const name = `${failing}'s ${kind}${readSize ? ` with ${readSize}-byte reads` : ''}${deflate ? ', permessage-deflate' : ''}, ${mode}`;
        it(name, async () => {
          process.on('uncaughtException', onThrow);
          process.on('unhandledRejection', onThrow);
          try {
            const base = await session(failing, {}, readSize, deflate, mode);
            assert.deepEqual(base.echoes, EXPECTED, 'the session without a fault');
            assert.ok(base.server.wasClean && base.client.wasClean, 'both ends clean without a fault');
            const refs: WeakRef<object>[] = [...base.refs];
            let n = 1;
            for (; n < 5000; n++) {
              const r = await session(failing, { [kind]: n }, readSize, deflate, mode);
              refs.push(...r.refs);
              assert.deepEqual(thrown, [], `step ${n}: nothing thrown out of an event`);
              if (!r.reachedFailure) {
                assert.deepEqual(r.echoes, EXPECTED);
                break;
              }
              // What the client read is a prefix of the session, in order: nothing lost in between, nothing twice.
              assert.deepEqual(r.echoes, EXPECTED.slice(0, r.echoes.length), `step ${n}: echoes in order`);
              assert.ok(
                !(r.server.wasClean && r.client.wasClean),
                `step ${n} failed, yet both ends report a clean close`,
              );
            }
            assert.ok(n > 3 && n < 5000, `${n} steps`);
            for (let i = 0; i < 3; i++) {
              await turn();
              gc();
            }
            // No timer of any run is left (a close timer here would be 10 minutes)…
            const timers = process.getActiveResourcesInfo().filter((r) => r === 'Timeout');
            assert.deepEqual(timers, [], 'no timer left');
            // …and no run's streams or layers are held by anything once it is over. One run's
            // may be for a moment after its close (on a loaded machine, seen once in ~2,000 walks, gone
            // 10 ms later), so collect after each turn until they are gone, for at most 1,000 turns: a
            // stream really held (by the shared ticker, the zlib limiter, a listener) stays held and
            // fails the walk.
            const isHeld = (r: WeakRef<object>): boolean => r.deref() !== undefined;
            for (let i = 0; i < 1000 && refs.some(isHeld); i++) {
              await turn();
              gc();
            }
            const held = refs.filter(isHeld).length;
            assert.equal(held, 0, `${held} of ${refs.length} streams/layers still held after the walk`);
            console.log(
              `${name}: every one of ${n - 1} steps failed once; all ${refs.length} streams and layers collected`,
            );
          } finally {
            process.off('uncaughtException', onThrow);
            process.off('unhandledRejection', onThrow);
          }
        });
      }
    }
  }
});
