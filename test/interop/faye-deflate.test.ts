/**
 * permessage-deflate (RFC 7692) with faye's own extension package, `permessage-deflate` on faye-websocket
 * (websocket-driver, websocket-extensions), in both roles: its client against every echo target with compression on,
 * ws-stream's clients (core `connect`, ws-stream/ws's `WebSocket`) against its server; the extension each side agreed
 * (its header and its session's state against ours); each of its options and ours (no context takeover, window bits
 * 8–15 asked by either side, offers declined); text and binary at the length boundaries up to 1 MiB, compressible and
 * random (printed seed, FUZZ_SEED replays), a run of messages whose wire size shows the context taken over (or not);
 * compressed messages in fragments with pings between; each side's size limit seen as 1009 on the inflated size;
 * close codes with reasons both ways while compressing (in the exchanges). Pinned fault: its limit also counts the
 * compressed frame, so incompressible messages at the limit fail. ws-stream's receiver had the same fault (fixed:
 * its server reads faye's 1000 random octets at a limit of 1000, below).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type net from 'node:net';
import { connect, type DeflateOptions } from '../../src/index.js';
import { targets } from './echo-targets.js';
import {
  fayeClient as clientOf,
  fayeOpen as openFaye,
  startFayeServer as startFaye,
  version,
  type FayeDeflateOptions,
  type FayeOptions,
  type FayeSession,
} from './faye-peer.js';
import { startEchoServer } from './edge.js';
import {
  FRAGMENTED,
  compatClient,
  coreClientWith,
  digest,
  echoes,
  exchange,
  readFragmented,
  sendFragmented,
  text,
} from './js-peers.js';

const FAYE = `faye-websocket ${version('faye-websocket')} + permessage-deflate ${version('permessage-deflate')}`;

const seed = process.env.FUZZ_SEED === undefined ? Date.now() % 2 ** 31 : Number(process.env.FUZZ_SEED);
console.log(`faye-deflate random messages: seed ${seed} (replay with FUZZ_SEED=${seed})`);

/** `n` octets from a xorshift generator: incompressible. */
function random(n: number, s: number): Buffer {
  const b = Buffer.alloc(n);
  let x = (s ^ 0x9e3779b9) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** The session state that an agreed extension string means for the side `own` ('' when none was agreed). */
function stateOf(agreed: string, own: 'server' | 'client'): FayeSession | undefined {
  if (agreed === '') return undefined;
  const params = new Map(
    agreed
      .split(';')
      .slice(1)
      .map((p) => p.trim().split('=') as [string, string | undefined]),
  );
  const peer = own === 'server' ? 'client' : 'server';
  return {
    _ownContextTakeover: !params.has(`${own}_no_context_takeover`),
    _ownWindowBits: Number(params.get(`${own}_max_window_bits`) ?? 15),
    _peerContextTakeover: !params.has(`${peer}_no_context_takeover`),
    _peerWindowBits: Number(params.get(`${peer}_max_window_bits`) ?? 15),
  };
}
/** faye's peers with the extension on unless `deflate: false` (faye-peer's default is off). */
const on = (o: { deflate?: FayeDeflateOptions | false; maxLength?: number }): FayeOptions => ({
  maxLength: o.maxLength,
  deflate: o.deflate === false ? undefined : (o.deflate ?? {}),
});
const fayeOpen = (url: string, protocols: string[] | undefined, o: Parameters<typeof on>[0]) =>
  openFaye(url, protocols, on(o));
const fayeClient = (o: { deflate?: FayeDeflateOptions; maxLength?: number } = {}) => clientOf(FAYE, on(o));
const startFayeServer = (o: Parameters<typeof on>[0] = {}) => startFaye(on(o));

const withDeflate = coreClientWith({ perMessageDeflate: true });

describe(`${FAYE} client → ws-stream servers, permessage-deflate on`, () => {
  for (const target of targets) {
    it(target.name, async (t) => {
      const server = await target.start(true);
      t.after(() => server.stop());
      const c = await fayeOpen(server.url, undefined, {});
      assert.equal(c.offered, 'permessage-deflate; client_max_window_bits');
      assert.equal(c.answered, 'permessage-deflate');
      assert.equal((await server.seen(0))?.extensions ?? c.answered, c.answered);
      assert.deepEqual(c.session, stateOf(c.answered, 'client'));
      c.close(1000, '');
      await c.closed;
      const again = await target.start(true);
      t.after(() => again.stop());
      await exchange(fayeClient(), again, target.commands, 'chat');
    });
  }
});

describe(`ws-stream clients → ${FAYE} server, permessage-deflate on`, () => {
  for (const client of [withDeflate, compatClient]) {
    it(client.name, async (t) => {
      const server = await startFayeServer();
      t.after(() => server.stop());
      await exchange(client, server, true, 'superchat');
      // Every connection of the exchange agreed on the default.
      const first = await server.faye(0);
      assert.equal(first.offered, 'permessage-deflate; client_max_window_bits');
      assert.equal(first.extensions, 'permessage-deflate');
      assert.deepEqual(first.session, stateOf('permessage-deflate', 'server'));
    });
  }
});

const BITS = [8, 9, 10, 11, 12, 13, 14, 15];
/** After each negotiation: the length boundaries both types, and one message twice (the second from the context). */
const SMALL: (string | Buffer)[] = [
  ...[0, 1, 125, 126, 65535, 65536].flatMap((n, i) => [text(n), random(n, seed + i)]),
  text(4000),
  text(4000),
];

interface ServerCase {
  name: string;
  faye: FayeDeflateOptions;
  ours: DeflateOptions | boolean;
  /** What faye offers, and what the ws-stream server must answer, octet for octet (null: declined). */
  offered: string;
  answered: string | null;
}
const PMD = 'permessage-deflate';
const serverCases: ServerCase[] = [
  { name: 'defaults', faye: {}, ours: true, offered: `${PMD}; client_max_window_bits`, answered: PMD },
  {
    name: 'its noContextTakeover (client_no_context_takeover offered)',
    faye: { noContextTakeover: true },
    ours: true,
    offered: `${PMD}; client_no_context_takeover; client_max_window_bits`,
    answered: `${PMD}; client_no_context_takeover`,
  },
  {
    // RFC 7692 §7.1.1.1: the server accepts server_no_context_takeover by answering it; faye fails the connection
    // when it is missing (client_session.js activate).
    name: 'its requestNoContextTakeover (server_no_context_takeover asked)',
    faye: { requestNoContextTakeover: true },
    ours: true,
    offered: `${PMD}; client_max_window_bits; server_no_context_takeover`,
    answered: `${PMD}; server_no_context_takeover`,
  },
  {
    name: 'our no context takeover on both sides',
    faye: {},
    ours: { serverNoContextTakeover: true, clientNoContextTakeover: true },
    offered: `${PMD}; client_max_window_bits`,
    answered: `${PMD}; server_no_context_takeover; client_no_context_takeover`,
  },
  ...BITS.map((b) => ({
    name: `its maxWindowBits ${b} (client_max_window_bits=${b} offered)`,
    faye: { maxWindowBits: b },
    ours: true,
    offered: `${PMD}; client_max_window_bits=${b}`,
    answered: `${PMD}; client_max_window_bits=${b}`,
  })),
  // §7.1.2.1: the server accepts server_max_window_bits by answering it, with the same value or a smaller one.
  ...BITS.map((b) => ({
    name: `its requestMaxWindowBits ${b} (server_max_window_bits=${b} asked)`,
    faye: { requestMaxWindowBits: b },
    ours: true,
    offered: `${PMD}; client_max_window_bits; server_max_window_bits=${b}`,
    answered: `${PMD}; server_max_window_bits=${b}`,
  })),
  ...BITS.map((b) => ({
    name: `our serverMaxWindowBits ${b}`,
    faye: {},
    ours: { serverMaxWindowBits: b },
    offered: `${PMD}; client_max_window_bits`,
    answered: b < 15 ? `${PMD}; server_max_window_bits=${b}` : PMD,
  })),
  ...BITS.map((b) => ({
    name: `our clientMaxWindowBits ${b}`,
    faye: {},
    ours: { clientMaxWindowBits: b },
    offered: `${PMD}; client_max_window_bits`,
    answered: b < 15 ? `${PMD}; client_max_window_bits=${b}` : PMD,
  })),
  {
    name: 'its requestMaxWindowBits 12 against our serverMaxWindowBits 9: the smaller',
    faye: { requestMaxWindowBits: 12 },
    ours: { serverMaxWindowBits: 9 },
    offered: `${PMD}; client_max_window_bits; server_max_window_bits=12`,
    answered: `${PMD}; server_max_window_bits=9`,
  },
  {
    name: 'its maxWindowBits 12 against our clientMaxWindowBits 10: the smaller',
    faye: { maxWindowBits: 12 },
    ours: { clientMaxWindowBits: 10 },
    offered: `${PMD}; client_max_window_bits=12`,
    answered: `${PMD}; client_max_window_bits=10`,
  },
  {
    name: 'every parameter asked by it',
    faye: { noContextTakeover: true, requestNoContextTakeover: true, maxWindowBits: 9, requestMaxWindowBits: 11 },
    ours: true,
    offered: `${PMD}; client_no_context_takeover; client_max_window_bits=9; server_no_context_takeover; server_max_window_bits=11`,
    answered: `${PMD}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11; client_max_window_bits=9`,
  },
  {
    name: 'an offer we decline (perMessageDeflate off): no extension on either side, messages uncompressed',
    faye: {},
    ours: false,
    offered: `${PMD}; client_max_window_bits`,
    answered: null,
  },
];

describe(`permessage-deflate parameters: ${FAYE} client → the ws-stream server`, () => {
  for (const c of serverCases) {
    it(c.name, async () => {
      const srv = await startEchoServer({ perMessageDeflate: c.ours });
      const record = srv.next();
      const conn = await fayeOpen(`ws://127.0.0.1:${srv.port}/`, undefined, { deflate: c.faye });
      assert.equal(conn.offered, c.offered);
      assert.equal(conn.answered, c.answered ?? '');
      // faye's session holds what the answer means for it (none when declined).
      assert.deepEqual(conn.session, stateOf(c.answered ?? '', 'client'));
      await echoes(conn, SMALL);
      conn.close(1000, 'done');
      assert.deepEqual(await conn.closed, { code: 1000, reason: 'done' });
      const rec = await record;
      assert.equal(rec.offered, c.offered);
      assert.equal(rec.extensions, c.answered ?? '');
      assert.equal(rec.messages.length, SMALL.length);
      assert.deepEqual([rec.closeInfo.code, rec.closeInfo.wasClean], [1000, true]);
    });
  }
});

interface ClientCase {
  name: string;
  ours: DeflateOptions | boolean;
  /** faye's options; false: its server without the extension. */
  faye: FayeDeflateOptions | false;
  offered: string;
  /** What faye answers (null: declined), and so what our client agreed. */
  answered: string | null;
  /** Where faye's session differs from what its answer says. */
  unsaid?: Partial<FayeSession>;
}
const clientCases: ClientCase[] = [
  { name: 'defaults', ours: true, faye: {}, offered: `${PMD}; client_max_window_bits`, answered: PMD },
  {
    name: 'our no context takeover on both sides',
    ours: { serverNoContextTakeover: true, clientNoContextTakeover: true },
    faye: {},
    offered: `${PMD}; server_no_context_takeover; client_no_context_takeover; client_max_window_bits`,
    answered: `${PMD}; server_no_context_takeover; client_no_context_takeover`,
  },
  {
    name: 'its noContextTakeover (its own side)',
    ours: true,
    faye: { noContextTakeover: true },
    offered: `${PMD}; client_max_window_bits`,
    answered: `${PMD}; server_no_context_takeover`,
  },
  {
    name: 'its requestNoContextTakeover (ours)',
    ours: true,
    faye: { requestNoContextTakeover: true },
    offered: `${PMD}; client_max_window_bits`,
    answered: `${PMD}; client_no_context_takeover`,
  },
  ...BITS.map((b) => ({
    name: `our serverMaxWindowBits ${b}`,
    ours: { serverMaxWindowBits: b },
    faye: {},
    offered: b < 15 ? `${PMD}; server_max_window_bits=${b}; client_max_window_bits` : `${PMD}; client_max_window_bits`,
    answered: b < 15 ? `${PMD}; server_max_window_bits=${b}` : PMD,
  })),
  ...BITS.map((b) => ({
    name: `our clientMaxWindowBits ${b}`,
    ours: { clientMaxWindowBits: b },
    faye: {},
    offered: `${PMD}; client_max_window_bits${b < 15 ? `=${b}` : ''}`,
    answered: b < 15 ? `${PMD}; client_max_window_bits=${b}` : PMD,
  })),
  ...BITS.map((b) => ({
    name: `its requestMaxWindowBits ${b} (our client_max_window_bits without a value lets it)`,
    ours: true,
    faye: { requestMaxWindowBits: b },
    offered: `${PMD}; client_max_window_bits`,
    answered: b < 15 ? `${PMD}; client_max_window_bits=${b}` : PMD,
  })),
  // Its own window limit it keeps to itself when we asked none (RFC 7692 §7.1.2.1 lets a server use less than 15
  // without saying; our inflater takes any window).
  ...BITS.map((b) => ({
    name: `its maxWindowBits ${b} (not said: we asked no server_max_window_bits)`,
    ours: true,
    faye: { maxWindowBits: b },
    offered: `${PMD}; client_max_window_bits`,
    answered: PMD,
    unsaid: { _ownWindowBits: b },
  })),
  {
    name: 'our serverMaxWindowBits 10 against its maxWindowBits 12: the smaller',
    ours: { serverMaxWindowBits: 10 },
    faye: { maxWindowBits: 12 },
    offered: `${PMD}; server_max_window_bits=10; client_max_window_bits`,
    answered: `${PMD}; server_max_window_bits=10`,
  },
  {
    name: 'an offer it declines (its server without the extension): no extension on either side',
    ours: true,
    faye: false,
    offered: `${PMD}; client_max_window_bits`,
    answered: null,
  },
];

describe(`permessage-deflate parameters: the ws-stream client → ${FAYE} server`, () => {
  for (const c of clientCases) {
    it(c.name, async (t) => {
      const server = await startFayeServer({ deflate: c.faye });
      t.after(() => server.stop());
      const ws = await connect(server.url, { perMessageDeflate: c.ours });
      assert.equal(ws.extensions, c.answered ?? '');
      const seen = await server.faye(0);
      assert.equal(seen.offered, c.offered);
      assert.equal(seen.extensions, c.answered ?? '');
      // The faye server's session holds what its answer means for it.
      const state = stateOf(c.answered ?? '', 'server');
      assert.deepEqual(seen.session, state && { ...state, ...c.unsaid });
      for (const m of SMALL) {
        await ws.write(m, { binary: typeof m !== 'string' });
        const back = await ws.read();
        assert.equal(digest(Buffer.from(back.data)), digest(Buffer.from(m)));
      }
      await ws.close({ code: 4001, reason: 'done ✓' });
      assert.deepEqual(await seen.closed, { code: 4001, reason: 'done ✓' });
      assert.deepEqual([ws.closeInfo?.code, ws.closeInfo?.wasClean], [4001, true]);
    });
  }
  it('ws-stream/ws WebSocket: its `extensions` names the extension of the answer (as ws does)', async (t) => {
    const server = await startFayeServer({ deflate: { requestMaxWindowBits: 10 } });
    t.after(() => server.stop());
    const { WebSocket } = await import('ws-stream/ws');
    const ws = new WebSocket(server.url);
    await new Promise((r, j) => {
      ws.once('open', r);
      ws.once('error', j);
    });
    const seen = await server.faye(0);
    assert.equal(seen.extensions, `${PMD}; client_max_window_bits=10`);
    assert.equal(ws.extensions, PMD);
    const closed = new Promise((r) => ws.once('close', r));
    ws.close(1000);
    assert.equal(await closed, 1000);
  });
});

/** Up to 1 MiB: text and binary, compressible and random. */
const LARGE = [0, 1, 125, 126, 65535, 65536, 1 << 20];
const MESSAGES: (string | Buffer)[] = LARGE.flatMap((n, i) => [
  text(n),
  Buffer.alloc(n, i),
  random(n, seed + 100 + i),
  Buffer.from(random(n, seed + 200 + i).map((b) => 0x61 + (b % 26))).toString(),
]);
/** 1 MiB that compresses to a few KiB: sent and echoed, it shows both directions compressed. */
const SQUEEZED = text(1 << 20);
const WIRE_MAX = 16 * 1024;

/** Octets `socket` wrote and read while `f` ran. */
async function onWire(socket: net.Socket, f: () => Promise<void>): Promise<{ written: number; read: number }> {
  const [w, r] = [socket.bytesWritten, socket.bytesRead];
  await f();
  return { written: socket.bytesWritten - w, read: socket.bytesRead - r };
}

/** One random message of 4000 octets, 50 times: each repeat is matched in the context when it is taken over. */
const REPEATS = 50;
const REPEATED = random(4000, seed + 300);

describe(`messages compressed, ${FAYE}`, () => {
  it('its client → the ws-stream server: every message echoed, 1 MiB of text is a few KiB each way', async (t) => {
    const srv = await startEchoServer({ perMessageDeflate: true });
    const record = srv.next();
    const c = await fayeOpen(`ws://127.0.0.1:${srv.port}/`, undefined, {});
    await echoes(c, MESSAGES);
    const wire = await onWire(c.socket, () => echoes(c, [SQUEEZED]));
    t.diagnostic(`1 MiB of text on the wire: ${JSON.stringify(wire)}`);
    assert.ok(wire.written < WIRE_MAX && wire.read < WIRE_MAX, JSON.stringify(wire));
    c.close(1000, '');
    await c.closed;
    assert.equal((await record).messages.length, MESSAGES.length + 1);
  });

  it('the ws-stream client → its server: every message echoed, 1 MiB of text is a few KiB each way', async (t) => {
    const server = await startFayeServer();
    t.after(() => server.stop());
    const ws = await connect(server.url, { perMessageDeflate: true });
    const echo = async (m: string | Buffer) => {
      await ws.write(m, { binary: typeof m !== 'string' });
      const back = await ws.read();
      assert.deepEqual([back.binary, digest(Buffer.from(back.data))], [typeof m !== 'string', digest(Buffer.from(m))]);
    };
    for (const m of MESSAGES) await echo(m);
    const wire = await onWire((await server.faye(0)).socket, () => echo(SQUEEZED));
    t.diagnostic(`1 MiB of text on the wire: ${JSON.stringify(wire)}`);
    assert.ok(wire.written < WIRE_MAX && wire.read < WIRE_MAX, JSON.stringify(wire));
    await ws.close();
  });

  for (const takeover of [true, false]) {
    const what = takeover ? 'each repeat is a few octets' : 'each repeat is whole (no context takeover)';
    it(`its client → the ws-stream server, one message ${REPEATS} times: ${what}, both ways`, async (t) => {
      const srv = await startEchoServer({ perMessageDeflate: true });
      const c = await fayeOpen(`ws://127.0.0.1:${srv.port}/`, undefined, {
        deflate: takeover ? {} : { noContextTakeover: true, requestNoContextTakeover: true },
      });
      assert.deepEqual(c.session?._ownContextTakeover, takeover);
      const wire = await onWire(c.socket, () => echoes(c, Array(REPEATS).fill(REPEATED)));
      t.diagnostic(`on the wire: ${JSON.stringify(wire)}`);
      for (const octets of [wire.written, wire.read]) {
        if (takeover) assert.ok(octets < 2 * REPEATED.length + REPEATS * 100, `${octets}`);
        else assert.ok(octets > 0.9 * REPEATS * REPEATED.length, `${octets}`);
      }
      c.close(1000, '');
      await c.closed;
    });
    it(`the ws-stream client → its server, one message ${REPEATS} times: ${what}, both ways`, async (t) => {
      const server = await startFayeServer();
      t.after(() => server.stop());
      const ws = await connect(server.url, {
        perMessageDeflate: takeover ? true : { serverNoContextTakeover: true, clientNoContextTakeover: true },
      });
      const wire = await onWire((await server.faye(0)).socket, async () => {
        for (let i = 0; i < REPEATS; i++) await ws.write(REPEATED);
        for (let i = 0; i < REPEATS; i++) assert.equal(digest(Buffer.from((await ws.read()).data)), digest(REPEATED));
      });
      t.diagnostic(`on the wire: ${JSON.stringify(wire)}`);
      for (const octets of [wire.written, wire.read]) {
        if (takeover) assert.ok(octets < 2 * REPEATED.length + REPEATS * 100, `${octets}`);
        else assert.ok(octets > 0.9 * REPEATS * REPEATED.length, `${octets}`);
      }
      await ws.close();
    });
  }
});

describe(`compressed messages in fragments with pings between, ${FAYE}`, () => {
  const total = FRAGMENTED.reduce((n, m) => n + m.data.length, 0);
  it('the ws-stream client sends them (writeSome): the faye server inflates and echoes each whole', async (t) => {
    const server = await startFayeServer();
    t.after(() => server.stop());
    const done = sendFragmented(server.url, { perMessageDeflate: true });
    const seen = await server.faye(0);
    await done;
    assert.equal(seen.extensions, PMD);
    assert.ok(seen.socket.bytesRead < total / 2, `${seen.socket.bytesRead} octets read for ${total}: compressed`);
  });

  it('the ws-stream server sends them: the faye client reads each whole and answers every ping', async () => {
    const closed = await readFragmented(
      (url) => fayeOpen(url, undefined, {}),
      { perMessageDeflate: true },
      (c) => {
        assert.equal(c.answered, PMD);
        assert.ok(c.socket.bytesRead < total / 2, `${c.socket.bytesRead} octets read for ${total}: compressed`);
      },
    );
    assert.deepEqual(closed, { code: 1000, reason: 'read' });
  });
});

/** 1001 octets that deflate to a dozen: only the inflated size can pass a limit of 1000. */
const OVER = 'a'.repeat(1001);
describe(`size limits of 1000 octets seen as 1009 on the inflated size, ${FAYE}`, () => {
  it('its server with maxLength 1000: the ws-stream client sees 1009 for 1001 octets', async (t) => {
    const server = await startFayeServer({ maxLength: 1000 });
    t.after(() => server.stop());
    const ws = await connect(server.url, { perMessageDeflate: true });
    await ws.write(OVER.slice(1), { binary: false });
    assert.equal((await ws.read()).data.length, 1000);
    const wire = await onWire((await server.faye(0)).socket, () => ws.write(OVER, { binary: false }));
    await assert.rejects(ws.read(), { code: 'ERR_WS_CLOSED' });
    assert.ok(wire.read < 100, `${wire.read} octets on the wire`);
    const info = await ws.whenClosed();
    assert.deepEqual([info.initiatedBy, info.code], ['remote', 1009]);
    assert.equal((await (await server.seen(0))?.closed)?.code, 1009);
  });

  // websocket-driver 0.8.3 also checks maxLength against the compressed frame (hybi.js `_checkFrameLength`, before
  // inflating): 1000 random octets deflate to more than 1000 (a stored block's header), so a message at the limit is
  // failed with 1009. RFC 6455 §7.4.1 gives 1009 to "a message that is too big for it to process": it was not. Pinned.
  it('its server with maxLength 1000 fails 1000 random octets (over 1000 compressed) with 1009 (its fault)', async (t) => {
    const server = await startFayeServer({ maxLength: 1000 });
    t.after(() => server.stop());
    const ws = await connect(server.url, { perMessageDeflate: true });
    await ws.write(random(1000, seed + 400));
    await assert.rejects(ws.read(), { code: 'ERR_WS_CLOSED' });
    assert.deepEqual(ws.closeReason, { code: 1009, reason: 'WebSocket frame length too large' });
  });

  it('its client with maxLength 1000: the ws-stream server sees 1009 for 1001 octets', async () => {
    const srv = await startEchoServer({ perMessageDeflate: true });
    const record = srv.next();
    const c = await fayeOpen(`ws://127.0.0.1:${srv.port}/`, undefined, { maxLength: 1000 });
    await echoes(c, [OVER.slice(1)]);
    c.send(OVER);
    assert.equal((await c.closed).code, 1009);
    const rec = await record;
    assert.deepEqual([rec.closeInfo.initiatedBy, rec.closeInfo.code, rec.peerClose?.code], ['remote', 1009, 1009]);
  });

  // The other way round ws-stream counts the inflated size only: faye's 1000 random octets, over 1000 on the wire,
  // are read whole (before the fix its receiver also counted the compressed frame and failed them with 1009).
  it('the ws-stream server with readMessageMax 1000 reads 1000 random octets from faye, over 1000 compressed', async () => {
    const srv = await startEchoServer({ perMessageDeflate: true, readMessageMax: 1000 });
    const record = srv.next();
    const c = await fayeOpen(`ws://127.0.0.1:${srv.port}/`, undefined, {});
    const atLimit = random(1000, seed + 401);
    const wire = await onWire(c.socket, async () => {
      c.send(atLimit);
      // The echo, or the close that came instead of it.
      const back = await Promise.race([c.next(), c.closed.then((e) => e)]);
      assert.ok('data' in back, `closed with ${JSON.stringify(back)} instead of the echo`);
      assert.equal(digest(Buffer.from(back.data)), digest(atLimit));
    });
    // Its frame: a 2-octet header, a 2-octet length and a 4-octet mask, then more than 1000 compressed octets.
    assert.ok(wire.written > 8 + 1000, `${wire.written} octets on the wire`);
    c.close(1000, 'done');
    assert.equal((await c.closed).code, 1000);
    const rec = await record;
    assert.deepEqual([rec.closeInfo.code, rec.error, rec.messages.length], [1000, undefined, 1]);
  });

  it('the ws-stream server with readMessageMax 1000: the faye client sees 1009 for 1001 octets', async () => {
    const srv = await startEchoServer({ perMessageDeflate: true, readMessageMax: 1000 });
    const record = srv.next();
    const c = await fayeOpen(`ws://127.0.0.1:${srv.port}/`, undefined, {});
    await echoes(c, [OVER.slice(1)]);
    c.send(OVER);
    assert.equal((await c.closed).code, 1009);
    const rec = await record;
    assert.deepEqual([rec.closeInfo.error?.code, rec.closeInfo.code], ['ERR_WS_MESSAGE_TOO_BIG', 1009]);
    assert.equal(rec.messages.length, 1);
  });

  it('the ws-stream client with readMessageMax 1000: the faye server sees 1009 for 1001 octets', async (t) => {
    const server = await startFayeServer();
    t.after(() => server.stop());
    const ws = await connect(server.url, { perMessageDeflate: true, readMessageMax: 1000 });
    await ws.write(OVER.slice(1), { binary: false });
    assert.equal((await ws.read()).data.length, 1000);
    await ws.write(OVER, { binary: false });
    await assert.rejects(ws.read(), { code: 'ERR_WS_MESSAGE_TOO_BIG' });
    const info = await ws.whenClosed();
    assert.deepEqual([info.initiatedBy, info.code], ['local', 1009]);
    assert.equal((await (await server.seen(0))?.closed)?.code, 1009);
  });
});
