/**
 * Close codes and reasons both ways with Python `websockets` and `aiohttp`. aiohttp sends any code and any
 * reason octets as given, so it is also the peer that sends what RFC 6455 §7.4 forbids on the wire (1004–1006,
 * 1015, codes outside 1000–4999, a reason that is not UTF-8, a close frame over 125 octets); websockets checks
 * what it receives (§7.4.1 codes, UTF-8) and reports the reason it saw.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/index.js';
import {
  type PeerLib,
  type PythonServer,
  runPythonClient,
  type ServerRecord,
  spawnPythonServer,
  startEchoServer,
} from './edge.js';

/** Every code a close frame may carry that these tests send: §7.4.1 and the registered 1012–1014, 3000–4999. */
const VALID = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
/** Codes no close frame may carry (§7.4.1, §7.4.2). */
const INVALID = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];
/** 123 octets of UTF-8, the longest reason (125 minus the code), with 2-, 3- and 4-octet sequences. */
const LONGEST = `${'é'.repeat(20)}${'✓'.repeat(10)}${'𝄞'.repeat(10)}${'x'.repeat(13)}`;
const hex = (s: string | Buffer): string => Buffer.from(s).toString('hex');

describe('close: Python clients close, the ws-stream server answers', () => {
  for (const lib of ['websockets', 'aiohttp'] as PeerLib[]) {
    for (const code of VALID) {
      it(`${lib} closes with ${code}: the server sees it and echoes it`, async () => {
        const srv = await startEchoServer({});
        const record = srv.next();
        const report = await runPythonClient(lib, `ws://127.0.0.1:${srv.port}/`, {
          steps: [{ send: 10 }, { close: code, reason_hex: hex('bye') }],
        });
        const rec = await record;
        assert.equal(report.error, null);
        assert.deepEqual(rec.peerClose, { code, reason: 'bye' });
        assert.deepEqual(
          [rec.closeInfo.initiatedBy, rec.closeInfo.code, rec.closeInfo.wasClean],
          ['remote', code, true],
        );
        assert.equal(report.close_code, code, 'the echo of its code');
        if (lib === 'websockets') assert.equal(report.close_reason, 'bye', 'the echo of its reason');
      });
    }
    it(`${lib} closes with a reason of 123 octets: echoed whole`, async () => {
      const srv = await startEchoServer({});
      const record = srv.next();
      assert.equal(Buffer.byteLength(LONGEST), 123);
      const report = await runPythonClient(lib, `ws://127.0.0.1:${srv.port}/`, {
        steps: [{ close: 4000, reason_hex: hex(LONGEST) }],
      });
      const rec = await record;
      assert.equal(report.error, null);
      assert.deepEqual(rec.peerClose, { code: 4000, reason: LONGEST });
      assert.equal(report.close_code, 4000);
      if (lib === 'websockets') assert.equal(report.close_reason, LONGEST);
    });
  }

  /** aiohttp sends a close frame the server must fail: it answers `closeCode` and reports `error`. */
  async function failed(code: number, reason: Buffer, closeCode: number, error: string): Promise<void> {
    const srv = await startEchoServer({});
    const record = srv.next();
    const report = await runPythonClient('aiohttp', `ws://127.0.0.1:${srv.port}/`, {
      steps: [{ send: 10 }, { close: code, reason_hex: hex(reason) }],
    });
    const rec = await record;
    assert.equal(report.error, null);
    assert.deepEqual(report.echoes, [true]);
    assert.equal(rec.closeInfo.error?.code, error);
    assert.equal(rec.closeInfo.code, closeCode);
    assert.equal(rec.closeInfo.initiatedBy, 'local');
    assert.equal(rec.peerClose, undefined, 'the bad close frame is not reported as the peer close');
    assert.equal(report.close_code, closeCode, 'aiohttp saw the failure code');
  }

  for (const code of INVALID) {
    it(`aiohttp closes with ${code}: failed with 1002`, () =>
      failed(code, Buffer.from('bye'), 1002, 'ERR_WS_BAD_CLOSE_CODE'));
  }
  it('aiohttp closes with a reason that is not UTF-8: failed with 1007', () =>
    failed(1000, Buffer.from([0x62, 0xff, 0xfe]), 1007, 'ERR_WS_BAD_CLOSE_PAYLOAD'));
  it('aiohttp closes with a reason that ends within a UTF-8 sequence: failed with 1007', () =>
    failed(1000, Buffer.from('✓').subarray(0, 2), 1007, 'ERR_WS_BAD_CLOSE_PAYLOAD'));
  it('aiohttp closes with a reason of 124 octets (a 126-octet control frame): failed with 1002', () =>
    failed(1000, Buffer.alloc(124, 0x61), 1002, 'ERR_WS_BAD_CONTROL_SIZE'));
});

describe('close: the ws-stream server closes, Python clients see it', () => {
  for (const lib of ['websockets', 'aiohttp'] as PeerLib[]) {
    for (const [code, reason] of [
      ...VALID.map((c) => [c, `code ${c}`] as const),
      [4999, LONGEST] as const,
      [1000, ''] as const,
    ]) {
      it(`${lib} sees ${code} with a reason of ${Buffer.byteLength(reason)} octets`, async () => {
        const srv = await startEchoServer({});
        const record = srv.next();
        const report = await runPythonClient(lib, `ws://127.0.0.1:${srv.port}/`, {
          steps: [{ command: `cmd:close ${code} ${hex(reason)}` }],
        });
        const rec = await record;
        assert.equal(report.close_code, code);
        if (lib === 'websockets') assert.equal(report.close_reason, reason);
        else {
          assert.equal(report.received, 'CLOSE');
          assert.equal(report.close_reason, reason);
        }
        assert.deepEqual(
          [rec.closeInfo.initiatedBy, rec.closeInfo.code, rec.closeInfo.wasClean],
          ['local', code, true],
        );
        // websockets echoes the code and the reason; aiohttp answers 1000 without a reason, whatever it received.
        assert.deepEqual(rec.peerClose, lib === 'websockets' ? { code, reason } : { code: 1000, reason: '' });
      });
    }
  }
});

describe('close: Python servers close, the ws-stream client sees it', () => {
  // One server of each library for every test here (each test its own connection, whose record it
  // takes first: the records come in the order the connections end).
  const peers = new Map<PeerLib, PythonServer>();
  before(async () => {
    for (const lib of ['websockets', 'aiohttp'] as PeerLib[]) peers.set(lib, await spawnPythonServer(lib, {}));
  });
  after(() => {
    for (const peer of peers.values()) peer.stop();
  });
  const serverOf = (lib: PeerLib): { port: number; record: Promise<ServerRecord> } => {
    const peer = peers.get(lib)!;
    return { port: peer.port, record: peer.next() };
  };
  for (const lib of ['websockets', 'aiohttp'] as PeerLib[]) {
    for (const [code, reason] of [...VALID.map((c) => [c, `code ${c}`] as const), [4999, LONGEST] as const]) {
      it(`${lib} closes with ${code} and a reason of ${Buffer.byteLength(reason)} octets`, async () => {
        const peer = serverOf(lib);
        const ws = await connect(`ws://127.0.0.1:${peer.port}/`);
        await ws.write(`cmd:close ${code} ${hex(reason)}`, { binary: false });
        await assert.rejects(ws.read(), { code: 'ERR_WS_CLOSED' });
        const info = await ws.whenClosed();
        assert.deepEqual(ws.closeReason, { code, reason });
        assert.deepEqual([info.initiatedBy, info.code, info.reason, info.wasClean], ['remote', code, reason, true]);
        const rec = await peer.record;
        assert.equal(rec.close_code, code);
      });
    }
  }
  for (const code of INVALID) {
    it(`aiohttp closes with ${code}: the client fails with 1002`, async () => {
      const peer = serverOf('aiohttp');
      const ws = await connect(`ws://127.0.0.1:${peer.port}/`);
      await ws.write(`cmd:close ${code} ${hex('bye')}`, { binary: false });
      await assert.rejects(ws.read(), { code: 'ERR_WS_BAD_CLOSE_CODE' });
      const info = await ws.whenClosed();
      assert.deepEqual([info.initiatedBy, info.code, info.error?.code], ['local', 1002, 'ERR_WS_BAD_CLOSE_CODE']);
      const rec = await peer.record;
      assert.equal(rec.close_code, 1002, 'aiohttp received the 1002');
    });
  }
  it('aiohttp closes with a reason that is not UTF-8: the client fails with 1007', async () => {
    const peer = serverOf('aiohttp');
    const ws = await connect(`ws://127.0.0.1:${peer.port}/`);
    await ws.write(`cmd:close 1000 ${hex(Buffer.from([0xc3, 0x28]))}`, { binary: false });
    await assert.rejects(ws.read(), { code: 'ERR_WS_BAD_CLOSE_PAYLOAD' });
    const info = await ws.whenClosed();
    assert.deepEqual([info.code, info.error?.code], [1007, 'ERR_WS_BAD_CLOSE_PAYLOAD']);
    await peer.record;
  });
});

describe('close: the ws-stream server closes without a status code (code 1005: an empty close frame)', () => {
  // What each peer reports for a close frame without a status code: websockets 1005; aiohttp 0 (it reads none).
  for (const [lib, seen] of [
    ['websockets', 1005],
    ['aiohttp', 0],
  ] as const) {
    it(`${lib} reports ${seen} and answers`, async () => {
      const srv = await startEchoServer({});
      const record = srv.next();
      const report = await runPythonClient(lib, `ws://127.0.0.1:${srv.port}/`, {
        steps: [{ command: 'cmd:close 1005 ' }],
      });
      assert.equal(report.close_code, seen);
      const rec = await record;
      assert.deepEqual([rec.closeInfo.initiatedBy, rec.closeInfo.code, rec.closeInfo.wasClean], ['local', 1005, true]);
    });
  }
});
