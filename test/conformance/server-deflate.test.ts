/**
 * permessage-deflate in the server role, to the letter of RFC 7692 §7.1 and §7.2, from a raw TCP
 * client (raw-client.ts): the RFC's example frames of §7.2.3, masked as a client sends them, are
 * read as "Hello"; the server's response to each kind of offer, byte for byte; and its compressed
 * frames honour what the client asked (server_no_context_takeover, server_max_window_bits).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { closeFrame, frame, type WireFrame } from '../support/frames.js';
import { TRAILER as TAIL, inflateMessage as inflate } from '../support/deflate-sender.js';
import { netServer } from '../support/hostile.js';
import { random } from '../support/random.js';
import { RawClient } from './raw-client.js';

/** A masked frame with RSV1 (rsv 4) and these payload octets. */
const z = (opcode: number, fin: boolean, ...payload: number[]): Buffer =>
  frame({ opcode, fin, rsv: opcode === 0 ? 0 : 4, payload: Buffer.from(payload) });
const EXT = 'Sec-WebSocket-Extensions';

describe('RFC 7692 §7.2.3, server role: the examples of the RFC, masked', { timeout: 60_000 }, () => {
  it('each is read as "Hello" in one stream with context takeover; an uncompressed message among them too', async (t) => {
    const server = await netServer(t, { perMessageDeflate: { threshold: 0 } });
    const c = await RawClient.connect(server.port, { [EXT]: 'permessage-deflate' });
    c.send(
      Buffer.concat([
        z(1, true, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00), // §7.2.3.1
        z(1, false, 0xf2, 0x48, 0xcd), // §7.2.3.1, fragmented
        z(0, true, 0xc9, 0xc9, 0x07, 0x00),
        z(1, true, 0xf2, 0x00, 0x11, 0x00, 0x00), // §7.2.3.2: a reference into the window
        frame({ opcode: 1, payload: 'plain' }), // §6: RSV1 clear
        z(1, true, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00), // §7.2.3.3: stored
        z(1, true, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00), // §7.2.3.4: BFINAL
        z(1, true, 0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00), // §7.2.3.5
        closeFrame(1000),
      ]),
    );
    const { code, before } = await c.expectClose();
    assert.equal(code, 1000);
    // The echoes: compressed (RSV1), unmasked, one inflater for all (the server takes its context over).
    assert.deepEqual(
      before.map((f) => [f.opcode, f.rsv, f.masked]),
      Array(7).fill([1, 4, false]),
    );
    const inflater = zlib.createInflateRaw();
    const out: Buffer[] = [];
    inflater.on('data', (d: Buffer) => out.push(d));
    inflater.write(Buffer.concat(before.flatMap((f) => [f.payload, TAIL])));
    await new Promise<void>((r) => inflater.flush(zlib.constants.Z_SYNC_FLUSH, () => r()));
    assert.equal(Buffer.concat(out).toString(), 'HelloHelloHelloplainHelloHelloHello');
    const o = await server.next();
    assert.deepEqual(o.messages, ['Hello', 'Hello', 'Hello', 'plain', 'Hello', 'Hello', 'Hello']);
    assert.equal(o.info?.wasClean, true);
  });
});

describe('RFC 7692 §7.1, server role: the response to an offer, and what it then sends', { timeout: 60_000 }, () => {
  it('the response, byte for byte, for each offer', async (t) => {
    const server = await netServer(t, { perMessageDeflate: true });
    for (const [offer, response] of [
      ['permessage-deflate', 'permessage-deflate'],
      ['permessage-deflate; client_max_window_bits', 'permessage-deflate'],
      ['permessage-deflate; client_max_window_bits=10', 'permessage-deflate; client_max_window_bits=10'],
      ['permessage-deflate; server_max_window_bits=10', 'permessage-deflate; server_max_window_bits=10'],
      [
        'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
        'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
      ],
      // §5.1: an offer with an unknown parameter, or an invalid value, is declined; the next one is taken.
      [
        'permessage-deflate; foo, permessage-deflate; server_max_window_bits=9',
        'permessage-deflate; server_max_window_bits=9',
      ],
      ['permessage-deflate; server_max_window_bits=16, permessage-deflate', 'permessage-deflate'],
      ['permessage-deflate; client_max_window_bits=7', null],
      ['x-webkit-deflate-frame', null],
    ] as const) {
      const c = await RawClient.open(server.port);
      const head = await new Promise<string>((resolve) => {
        let got = '';
        c.sock.on('data', (d: Buffer) => {
          got += d.toString('latin1');
          if (got.includes('\r\n\r\n')) resolve(got.slice(0, got.indexOf('\r\n\r\n')));
        });
        c.send(
          Buffer.from(
            `GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${EXT}: ${offer}\r\n\r\n`,
          ),
        );
      });
      assert.match(head, /^HTTP\/1\.1 101 /, offer);
      const fields = head.split('\r\n').filter((l) => l.toLowerCase().startsWith('sec-websocket-extensions:'));
      assert.deepEqual(fields, response === null ? [] : [`${EXT}: ${response}`], offer);
      c.send(closeFrame(1000));
      await c.until(() => c.ended, 'the end');
      c.destroy();
      await server.next();
    }
  });

  it('§7.1.1.1: server_no_context_takeover: each message the server sends starts from an empty window', async (t) => {
    const server = await netServer(t, { perMessageDeflate: { threshold: 0 } });
    const c = await RawClient.connect(server.port, { [EXT]: 'permessage-deflate; server_no_context_takeover' });
    const text = 'no context taken over, '.repeat(20);
    c.send(Buffer.concat([frame({ opcode: 1, payload: text }), frame({ opcode: 1, payload: text }), closeFrame(1000)]));
    const { before } = await c.expectClose();
    const [a, b] = before as [WireFrame, WireFrame];
    assert.deepEqual([a.rsv, b.rsv], [4, 4]);
    assert.deepEqual(b.payload, a.payload);
    assert.equal(inflate(b.payload).toString(), text);
    await server.next();
  });

  it('§7.1.2.1: server_max_window_bits=8 or 9: no back reference of the server reaches past 256 or 512 octets', async (t) => {
    const server = await netServer(t, { perMessageDeflate: { threshold: 0 } });
    const next = random(7692); // a fixed seed: any incompressible block does
    const block = Buffer.from(Array.from({ length: 1000 }, () => Math.floor(next() * 256)));
    const data = Buffer.concat([block, block]);
    const wide = zlib.deflateRawSync(data, { level: 1, finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
    for (const bits of [8, 9]) {
      assert.throws(() => inflate(wide, bits), /distance too far back/);
      const c = await RawClient.connect(server.port, { [EXT]: `permessage-deflate; server_max_window_bits=${bits}` });
      c.send(Buffer.concat([frame({ opcode: 2, payload: data }), closeFrame(1000)]));
      const { before } = await c.expectClose();
      const [f] = before as [WireFrame];
      assert.equal(f.rsv, 4);
      assert.deepEqual(inflate(f.payload, bits), data, `${bits} bits`);
      await server.next();
    }
  });
});
