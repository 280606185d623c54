/**
 * A large frame that runs past its chunk is gathered for the read() that waits for it (one buffer, unmasked as it
 * is copied). When that read goes away before the frame is complete, what arrived is queued as the pieces would
 * have been: a readSome() after an aborted read, or after the connection ended inside the frame, gets it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openServer, openServerOverTcp } from '../support/open.js';
import { delivered } from '../support/peer.js';
import { binary, text } from '../support/frames.js';
import { random } from '../support/random.js';

function payloadOf(n: number, seed: number): Buffer {
  const next = random(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(next() * 256);
  return b;
}

describe('a frame gathered for a waiting read()', () => {
  it('reaches read() whole and exact over TCP at 64 KiB, 1 MiB and over readHighWaterMark, binary and text', async (t) => {
    const { ws, peer } = await openServerOverTcp({}, undefined, t);
    const seed = 31;
    console.log(`seed ${seed}`);
    const sizes = [65536, 1 << 20, (1 << 20) + 1, 200_000];
    for (const size of sizes) {
      const payload = payloadOf(size, seed + size);
      const reading = ws.read();
      peer.send(binary(payload));
      const m = await reading;
      assert.equal(m.binary, true);
      assert.ok(m.data.equals(payload), `binary ${size}`);
    }
    const s = 'ωκεανός 🌊 '.repeat(20_000);
    const reading = ws.read();
    peer.send(text(s));
    const m = await reading;
    assert.equal(m.binary, false);
    assert.equal(m.text(), s);
  });

  it('an aborted read(): readSome() then gets the part that had arrived, and the rest after it', async () => {
    const { ws, peer, server } = await openServer();
    const payload = payloadOf(100_000, 5);
    const wire = binary(payload);
    const cut = wire.length - payload.length + 30_000;
    const ac = new AbortController();
    const reading = ws.read({ signal: ac.signal });
    const firstPart = delivered(server, cut);
    peer.send(wire.subarray(0, cut));
    await firstPart;
    ac.abort();
    await assert.rejects(reading, { code: 'ERR_WS_ABORTED' });
    const rest = delivered(server, wire.length - cut);
    peer.send(wire.subarray(cut));
    await rest;
    const a = await ws.readSome();
    assert.deepEqual([a.data.length, a.fin, a.binary], [30_000, false, true]);
    assert.ok(a.data.equals(payload.subarray(0, 30_000)));
    const b = await ws.readSome();
    assert.deepEqual([b.data.length, b.fin], [70_000, true]);
    assert.ok(b.data.equals(payload.subarray(30_000)));
  });

  it('the peer ends inside the frame: read() fails with ERR_WS_EOF, and readSome() gets the part that arrived', async () => {
    const { ws, peer, server, client } = await openServer();
    const payload = payloadOf(100_000, 9);
    const wire = binary(payload);
    const cut = wire.length - payload.length + 40_000;
    const reading = ws.read();
    const firstPart = delivered(server, cut);
    peer.send(wire.subarray(0, cut));
    await firstPart;
    client.end();
    await assert.rejects(reading, { code: 'ERR_WS_EOF', message: /inside a message/ });
    const a = await ws.readSome();
    assert.deepEqual([a.data.length, a.fin, a.binary], [40_000, false, true]);
    assert.ok(a.data.equals(payload.subarray(0, 40_000)));
    await assert.rejects(ws.readSome(), { code: 'ERR_WS_EOF' });
  });

  it('text that turns bad in a later chunk: close 1007, and readSome() after the failed read() gets the valid part', async () => {
    const { ws, peer, server } = await openServer();
    const bytes = Buffer.concat([Buffer.from('é'.repeat(20_000), 'utf8'), Buffer.from([0xf4, 0x90, 0x80, 0x80])]);
    const wire = text(bytes);
    const cut = wire.length - bytes.length + 10_000;
    const reading = ws.read();
    const firstPart = delivered(server, cut);
    peer.send(wire.subarray(0, cut));
    await firstPart;
    peer.send(wire.subarray(cut));
    await assert.rejects(reading, { code: 'ERR_WS_BAD_FRAME_PAYLOAD' });
    const frames = await peer.waitFrames(1);
    assert.equal(frames[0]!.opcode, 8);
    assert.equal(frames[0]!.payload.readUInt16BE(0), 1007);
    const a = await ws.readSome();
    assert.deepEqual([a.fin, a.binary], [false, false]);
    assert.equal(a.text(), 'é'.repeat(5_000));
  });
});
