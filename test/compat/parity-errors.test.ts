/**
 * Failures as ws's own test suite pins them down — which error a frame wrong in two ways reports,
 * a Blob that cannot be read — run on the real `ws` and on ws-stream/ws with the same expectations.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { frame } from '../support/frames.js';
import { type Impl, impls, listen, rawPeer } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Any = any;

function describeError(e: unknown): string {
  const err = e as Error & { code?: string };
  return `${err.constructor.name}${err.code ? ` ${err.code}` : ''}: ${err.message}`;
}

/** Unmasked client frames that are also wrong in another way: ws reports the other fault. */
const doubleFaults = [
  {
    name: 'a reserved opcode',
    bytes: frame({ opcode: 5, mask: false }),
    error: 'RangeError WS_ERR_INVALID_OPCODE: Invalid WebSocket frame: invalid opcode 5',
  },
  {
    name: 'a continuation outside a message',
    bytes: frame({ opcode: 0, payload: 'x', mask: false }),
    error: 'RangeError WS_ERR_INVALID_OPCODE: Invalid WebSocket frame: invalid opcode 0',
  },
  {
    name: 'a fragmented ping',
    bytes: frame({ opcode: 9, fin: false, mask: false }),
    error: 'RangeError WS_ERR_EXPECTED_FIN: Invalid WebSocket frame: FIN must be set',
  },
  {
    name: 'a ping of 126 bytes',
    bytes: frame({ opcode: 9, payload: Buffer.alloc(126), mask: false }),
    error: 'RangeError WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH: Invalid WebSocket frame: invalid payload length 126',
  },
];

/** A Blob backed by a file that changed since: reading it fails with a NotReadableError. */
async function unreadableBlob(t: TestContext): Promise<Blob> {
  const file = path.join(os.tmpdir(), `ws-stream-parity-${crypto.randomBytes(6).toString('hex')}.txt`);
  t.after(() => fs.rmSync(file, { force: true }));
  fs.writeFileSync(file, 'x'.repeat(64));
  const blob = await fs.openAsBlob(file);
  fs.writeFileSync(file, 'x'.repeat(32));
  return blob;
}

/** The code of the 'close' event (`once` would reject on the 'error' before it). */
function closeCode(ws: Any): Promise<number> {
  return new Promise((resolve) => ws.on('close', resolve));
}

/** A client of `url` and the server side of its connection, both open. */
async function connect(t: TestContext, impl: Impl, wss: Any, url: string): Promise<[Any, Any]> {
  const client = new impl.WebSocket(url);
  t.after(() => client.terminate());
  const [[server]] = await Promise.all([once(wss, 'connection'), once(client, 'open')]);
  return [client, server];
}

for (const impl of impls) {
  describe(`${impl.name}: a client frame wrong in two ways reports what ws reports`, () => {
    for (const c of doubleFaults) {
      it(`${c.name}, unmasked → ${c.error.split(':')[0]}, close 1002`, async (t) => {
        const { wss, port } = await listen(t, impl);
        const errors: string[] = [];
        const closed = new Promise<number>((resolve) =>
          wss.on('connection', (sws: Any) => {
            sws.on('error', (e: Error) => errors.push(describeError(e)));
            sws.on('close', resolve);
          }),
        );
        const peer = await rawPeer(t, port);
        await peer.responseHead();
        peer.send(c.bytes);
        const [reply] = await peer.waitFrames(1);
        assert.deepEqual([reply!.opcode, reply!.payload.readUInt16BE(0)], [8, 1002]);
        assert.equal(await closed, 1006);
        assert.deepEqual(errors, [c.error]);
      });
    }
  });

  describe(`${impl.name}: a protocol error's own properties`, () => {
    it("its one enumerable property is `code` (JSON.stringify shows it, as for ws's errors); the core error is its `cause`", async (t) => {
      const { wss, port } = await listen(t, impl);
      const failed = new Promise<Error>((resolve) => wss.on('connection', (sws: Any) => sws.on('error', resolve)));
      const peer = await rawPeer(t, port);
      await peer.responseHead();
      peer.send(frame({ opcode: 5 }));
      const e = (await failed) as Error & { cause?: Error & { code?: string } };
      assert.deepEqual(JSON.parse(JSON.stringify(e)), { code: 'WS_ERR_INVALID_OPCODE' });
      // ws-stream/ws only (documented in doc/ws-compat.md): ws's errors have no cause.
      if (impl.name === 'ws') assert.equal('cause' in e, false);
      else assert.equal(e.cause?.code, 'ERR_WS_BAD_OPCODE');
    });
  });

  describe(`${impl.name}: a Blob that cannot be read`, () => {
    it("its callback and those of the sends behind it get the read error, then 'error', then 'close' 1006", async (t) => {
      const blob = await unreadableBlob(t);
      const { wss, port } = await listen(t, impl);
      const [client, server] = await connect(t, impl, wss, `ws://127.0.0.1:${port}`);
      const received: string[] = [];
      client.on('message', (m: Buffer) => received.push(String(m)));
      const clientClosed = closeCode(client);
      const events: string[] = [];
      server.on('error', (e: Error) => events.push(`error ${e.name} ${e.message} ${server.readyState}`));
      server.send('before', (e: Error | null) => events.push(`before ${e}`));
      server.send(blob, (e: Error) => events.push(`blob ${e.name} ${e.message}`));
      server.send('after', (e: Error) => events.push(`after ${e.name} ${e.message}`));
      server.ping('ping', (e: Error) => events.push(`ping ${e.name}`));
      const code = await closeCode(server);
      events.push(`close ${code} ${server.readyState}`);
      assert.deepEqual(events, [
        'before null',
        'blob NotReadableError The blob could not be read',
        'after NotReadableError The blob could not be read',
        'ping NotReadableError',
        'error NotReadableError The blob could not be read 2',
        'close 1006 3',
      ]);
      // The socket was ended without a close frame: the peer has what came before, and 1006.
      const clientCode = await clientClosed;
      assert.deepEqual([clientCode, received], [1006, ['before']]);
    });

    it("without a callback: 'error' (NotReadableError), then 'close' 1006", async (t) => {
      const blob = await unreadableBlob(t);
      const { wss, port } = await listen(t, impl);
      const [, server] = await connect(t, impl, wss, `ws://127.0.0.1:${port}`);
      const events: string[] = [];
      server.on('error', (e: Error) => events.push(`error ${e.name} ${server.readyState}`));
      server.send(blob);
      events.push(`close ${await closeCode(server)}`);
      assert.deepEqual(events, ['error NotReadableError 2', 'close 1006']);
    });
  });
}
