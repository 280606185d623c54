/**
 * faye-websocket (on websocket-driver, an implementation of its own, neither ws nor undici) in both roles, in
 * process: its client against every echo target (ws, ws-stream/ws, `accept()` over net, `ws-stream serve`), and
 * ws-stream's clients (the core `connect`, ws-stream/ws's `WebSocket`) against its server. Subprotocols, text and
 * binary at the length encodings' boundaries up to 16 MiB, close codes and 123-octet reasons both ways, pings both
 * ways, a drop seen as 1006; messages in fragments cut inside UTF-8 sequences with pings between; each side's size
 * limit seen as 1009 by the other; the ws-stream server's other close codes. Pinned faults: its limit counts frame
 * headers and queued frames, it sends close frames over 125 octets, it fails IANA's 1012–1014. faye sends every
 * message in one frame, so fragments go one way only. No extension here: faye-deflate.test.ts runs faye with its
 * permessage-deflate package.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/index.js';
import { targets } from './echo-targets.js';
import { fayeClient as clientOf, startFayeServer, version } from './faye-peer.js';
import { startEchoServer } from './edge.js';
import {
  OTHER_CODES,
  binary,
  clientLimit,
  echoes,
  exchange,
  readFragmented,
  receiveLongClose,
  sendFragmented,
  wsStreamClients,
} from './js-peers.js';

const FAYE = `faye-websocket ${version('faye-websocket')} (websocket-driver ${version('websocket-driver')})`;
const fayeClient = (options: { maxLength?: number } = {}) => clientOf(FAYE, options);

describe(`${FAYE} client → ws-stream servers`, () => {
  for (const target of targets) {
    it(target.name, async (t) => {
      const server = await target.start(false);
      t.after(() => server.stop());
      await exchange(fayeClient(), server, target.commands, 'chat');
    });
  }
});

describe(`ws-stream clients → ${FAYE} server`, () => {
  for (const client of wsStreamClients) {
    it(client.name, async (t) => {
      const server = await startFayeServer();
      t.after(() => server.stop());
      await exchange(client, server, true, 'superchat');
    });
  }
});

describe(`messages in fragments with pings between, ${FAYE}`, () => {
  it('the ws-stream client sends them (UTF-8 cut inside every sequence): the faye server echoes each whole', async (t) => {
    const server = await startFayeServer();
    t.after(() => server.stop());
    await sendFragmented(server.url);
  });

  it('the ws-stream server sends them: the faye client reads each whole and answers every ping', async () => {
    assert.deepEqual(await readFragmented(fayeClient().open), { code: 1000, reason: 'read' });
  });
});

/**
 * websocket-driver 0.8.3 checks `maxLength` against the octets it holds unparsed (hybi.js `parse`:
 * `this._reader.getSize() > this._maxLength`), frame headers and the frames behind the current one included: a
 * message is refused below the limit (by 8 octets from a client, 4 from a server), and so are small messages that
 * arrive together. RFC 6455 §7.4.1 gives 1009 to "a message that is too big for it to process": none was. Pinned.
 */
const FAYE_MAX_FROM_CLIENT = 1000 - 8; // 2 + 2 (16-bit length) + 4 (mask)
const FAYE_MAX_FROM_SERVER = 1000 - 4;

describe(`size limits seen as 1009, ${FAYE}`, () => {
  it('the faye server with maxLength 1000: the ws-stream client sees 1009 past it (headers counted)', async (t) => {
    const server = await startFayeServer({ maxLength: 1000 });
    t.after(() => server.stop());
    const ws = await connect(server.url);
    await ws.write(Buffer.alloc(FAYE_MAX_FROM_CLIENT, 'a'), { binary: false });
    assert.equal((await ws.read()).data.length, FAYE_MAX_FROM_CLIENT);
    await ws.write(Buffer.alloc(FAYE_MAX_FROM_CLIENT + 1, 'a'), { binary: false });
    await assert.rejects(ws.read(), { code: 'ERR_WS_CLOSED' });
    const info = await ws.whenClosed();
    assert.deepEqual([info.initiatedBy, info.code], ['remote', 1009]);
    assert.equal((await (await server.seen(0))?.closed)?.code, 1009);
  });

  it('the faye server with maxLength 1000 fails five messages of 300 octets written at once with 1009 (its fault)', async (t) => {
    const server = await startFayeServer({ maxLength: 1000 });
    t.after(() => server.stop());
    const ws = await connect(server.url);
    // Written in one turn: ws-stream's write queue hands them to the socket in one write, faye reads them together.
    const writes = Array.from({ length: 5 }, () => ws.write(Buffer.alloc(300, 'a'), { binary: false }));
    await Promise.all(writes);
    await assert.rejects(ws.read(), { code: 'ERR_WS_CLOSED' });
    assert.deepEqual(ws.closeReason, { code: 1009, reason: 'WebSocket frame length too large' });
  });

  it('the faye client with maxLength 1000: the ws-stream server sees 1009 past it (headers counted)', async () => {
    const srv = await startEchoServer({});
    const record = srv.next();
    const c = await fayeClient({ maxLength: 1000 }).open(`ws://127.0.0.1:${srv.port}/`);
    await echoes(c, ['a'.repeat(FAYE_MAX_FROM_SERVER)]);
    c.send('a'.repeat(FAYE_MAX_FROM_SERVER + 1));
    assert.equal((await c.closed).code, 1009);
    const rec = await record;
    assert.deepEqual([rec.closeInfo.initiatedBy, rec.closeInfo.code], ['remote', 1009]);
    assert.equal(rec.peerClose?.code, 1009);
  });

  it('the ws-stream server with readMessageMax 1000: the faye client sees 1009 for 1001 octets', async () => {
    const srv = await startEchoServer({ readMessageMax: 1000 });
    const record = srv.next();
    const c = await fayeClient().open(`ws://127.0.0.1:${srv.port}/`);
    await echoes(c, [binary(1000, 1)]);
    c.send(binary(1001, 2));
    assert.equal((await c.closed).code, 1009);
    const rec = await record;
    assert.deepEqual([rec.closeInfo.error?.code, rec.closeInfo.code], ['ERR_WS_MESSAGE_TOO_BIG', 1009]);
    assert.equal(rec.messages.length, 1);
  });

  it('the ws-stream client with readMessageMax 1000: the faye server sees 1009 for 1001 octets', async (t) => {
    const server = await startFayeServer();
    t.after(() => server.stop());
    await clientLimit(server, [3, 4]);
  });
});

// websocket-driver 0.8.3 frames a close reason of any length: 200 octets make a close frame of 202, where RFC 6455
// §5.5 allows control frames 125 at most. ws-stream fails it with 1002 (ERR_WS_BAD_CONTROL_SIZE), in both roles.
describe(`${FAYE} closes with a reason of 200 octets (its fault): ws-stream fails the frame with 1002`, () => {
  const reason = 'x'.repeat(200);
  it('its client → a ws-stream server', async () => {
    const srv = await startEchoServer({});
    const record = srv.next();
    const c = await fayeClient().open(`ws://127.0.0.1:${srv.port}/`);
    c.close(4000, reason);
    assert.equal((await c.closed).code, 1002);
    const rec = await record;
    assert.deepEqual([rec.closeInfo.error?.code, rec.closeInfo.code], ['ERR_WS_BAD_CONTROL_SIZE', 1002]);
    assert.equal(rec.peerClose, undefined, 'the oversized close frame is not reported as the peer close');
  });
  it('its server → the ws-stream client', async (t) => {
    const server = await startFayeServer();
    t.after(() => server.stop());
    assert.equal((await receiveLongClose(server, reason))?.code, 1002);
  });
});

// websocket-driver 0.8.3 accepts only the codes of RFC 6455 §7.4.1 and 3000–4999 (hybi.js ERROR_CODES): 1012–1014,
// registered at IANA since (RFC 6455 §11.7 made the registry, §7.4.2 reserves 1000–2999 for such codes), fail the
// connection with 1002. Pinned; every other code the ws-stream server closes with is reported as sent.
it(`the ws-stream server closes with ${OTHER_CODES.join(', ')}: ${FAYE} reports each, and fails 1012–1014 with 1002`, async (t) => {
  const server = await targets.find((x) => x.name === 'accept() over net')!.start(false);
  t.after(() => server.stop());
  for (const [index, code] of OTHER_CODES.entries()) {
    const c = await fayeClient().open(server.url);
    c.send(`cmd:close ${code} why`);
    const refused = code >= 1012 && code <= 1014;
    assert.deepEqual(await c.closed, { code: refused ? 1002 : code, reason: 'why' }, `${code}`);
    assert.equal((await (await server.seen(index))?.closed)?.code, refused ? 1002 : code, `${code} answered`);
  }
});
