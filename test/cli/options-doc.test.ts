/**
 * What README says of `serve --deflate`, checked on the wire: the echo server compresses every
 * message (threshold 0); `serve --pubsub --deflate` compresses as PubSub does (messages of at least
 * 1024 bytes, each alone: server_no_context_takeover).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { it } from 'node:test';
import type { CloseInfo } from '../../src/index.js';
import { WebSocketStream } from '../../src/index.js';
import { text } from '../support/frames.js';
import { parseFrames, requestHead, type WireFrame } from '../support/frames.js';
import { inflateMessage } from '../support/deflate-sender.js';
import { RawPeer } from '../support/peer.js';
import { attack } from '../support/hostile.js';
import { exitOf, MAIN } from './cli-support.js';
import { startProbed } from './load-support.js';
import { selfSigned } from '../support/tls-cert.js';

const inflate = (payload: Buffer): string => inflateMessage(payload).toString();

/** A raw client that offered permessage-deflate: the 101's head and the frames after it. */
async function open(
  port: number,
): Promise<{ peer: RawPeer; head: string; frames: (n: number) => Promise<WireFrame[]> }> {
  const socket = net.connect(port, '127.0.0.1');
  const peer = new RawPeer(socket);
  peer.send(
    requestHead({ Host: `127.0.0.1:${port}`, 'Sec-WebSocket-Extensions': 'permessage-deflate' }, 'GET / HTTP/1.1'),
  );
  const { status, head } = await peer.responseHead();
  assert.equal(status, 101, head);
  const frames = (n: number): Promise<WireFrame[]> =>
    peer.until(() => {
      const at = peer.received.indexOf('\r\n\r\n') + 4;
      const f = parseFrames(peer.received.subarray(at)).frames;
      return f.length >= n ? f : undefined;
    });
  return { peer, head, frames };
}

it('serve --deflate: a 2-byte text is echoed compressed (RSV1 set, inflates to the same text)', async () => {
  const server = await startProbed(['--deflate'], undefined, []);
  try {
    const { peer, head, frames } = await open(server.port);
    assert.match(head, /\r\nSec-WebSocket-Extensions: permessage-deflate/i);
    peer.send(text('hi'));
    const [echo] = await frames(1);
    assert.equal(echo!.opcode, 1);
    assert.equal(echo!.rsv, 4, 'RSV1: compressed although far under 1024 bytes');
    assert.equal(inflate(echo!.payload), 'hi');
    peer.io.destroy();
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
});

it('serve --pubsub --deflate: a message under 1024 bytes goes uncompressed, one of 2000 compressed', async () => {
  const server = await startProbed(['--pubsub', '--deflate'], undefined, []);
  try {
    const { peer, head, frames } = await open(server.port);
    assert.match(head, /\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover/i);
    peer.send(text(JSON.stringify({ op: 'subscribe', topic: 't' })));
    await frames(1); // subscribed
    const big = 'x'.repeat(2000);
    peer.send(text(JSON.stringify({ op: 'publish', topic: 't', data: 'small' })));
    peer.send(text(JSON.stringify({ op: 'publish', topic: 't', data: big })));
    const [subscribed, small, large] = await frames(3);
    assert.equal(
      JSON.parse(subscribed!.rsv === 4 ? inflate(subscribed!.payload) : subscribed!.payload.toString()).op,
      'subscribed',
    );
    assert.equal(small!.rsv, 0, 'a small message is sent as it is');
    assert.equal(JSON.parse(small!.payload.toString()).data, 'small');
    assert.equal(large!.rsv, 4, 'a large one compressed');
    assert.equal(JSON.parse(inflate(large!.payload)).data, big);
    peer.io.destroy();
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
});

it("serve --protocols chat,superchat: the first in the server's order that the client offers; none offered, none chosen", async () => {
  const server = await startProbed(['--protocols', 'chat,superchat'], undefined, []);
  try {
    const chosen = async (offer: string): Promise<string | undefined> => {
      const socket = net.connect(server.port, '127.0.0.1');
      const peer = new RawPeer(socket);
      peer.send(requestHead({ Host: `127.0.0.1:${server.port}`, 'Sec-WebSocket-Protocol': offer }, 'GET / HTTP/1.1'));
      const { status, head } = await peer.responseHead();
      socket.destroy();
      assert.equal(status, 101, head);
      return /\r\nSec-WebSocket-Protocol: ([^\r]*)/i.exec(head)?.[1];
    };
    assert.equal(await chosen('superchat, chat'), 'chat');
    assert.equal(await chosen('other, superchat'), 'superchat');
    assert.equal(await chosen('other'), undefined);
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
});

/** `serve ARGS`, refused one upgrade (no Sec-WebSocket-Key: 400), then SIGTERM: its stderr. */
async function stderrAfterRefusal(args: string[]): Promise<string> {
  const proc = spawn(process.execPath, [MAIN, 'serve', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = exitOf(proc);
  while (!/listening on ws:\/\/\S+:(\d+)\//.test(out)) await once(proc.stdout!, 'data');
  const port = Number(/listening on ws:\/\/\S+:(\d+)\//.exec(out)![1]);
  const exchange = await attack(
    port,
    [requestHead({ Host: `127.0.0.1:${port}`, 'Sec-WebSocket-Key': null }, 'GET / HTTP/1.1')],
    {
      end: true,
    },
  );
  assert.equal(exchange.status, 400);
  proc.kill('SIGTERM');
  assert.equal((await exited).code, 0);
  return err;
}

it('serve without --quiet prints each refused handshake on stderr; --quiet leaves that line out (the URL is still printed)', async () => {
  assert.match(await stderrAfterRefusal([]), /^handshake refused: ERR_WS_NO_SEC_KEY /m);
  assert.doesNotMatch(await stderrAfterRefusal(['--quiet']), /handshake refused/);
});

it('connect --protocol (twice) --header --binary --deflate: what the server receives, and what the client prints', async (t) => {
  const seen: { headers?: http.IncomingHttpHeaders; message?: { data: string; binary: boolean } } = {};
  let onClosed: (info: CloseInfo) => void = () => {};
  const closed = new Promise<CloseInfo>((resolve) => {
    onClosed = resolve;
  });
  const srv = http.createServer();
  srv.on('upgrade', async (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    seen.headers = req.headers;
    const ws = new WebSocketStream(socket, { perMessageDeflate: true });
    await ws.accept(req, { head, selectProtocol: (offered) => offered.at(-1) });
    const m = await ws.read();
    seen.message = { data: m.data.toString(), binary: m.binary };
    await ws.write(Buffer.from([0, 1, 2, 0xff]), { binary: true });
    onClosed(await ws.whenClosed());
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.after(() => {
    srv.closeAllConnections();
    srv.close();
  });
  const port = (srv.address() as net.AddressInfo).port;
  const args = ['connect', `ws://127.0.0.1:${port}/`, '--protocol', 'chat', '--protocol', 'superchat'];
  args.push('--header', 'X-Test: yes', '--binary', '--deflate');
  const proc = spawn(process.execPath, [MAIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  let typed = false;
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    // A line typed once connected; Ctrl-D (end of input) once its answer was printed.
    if (!typed && /^connected to /m.test(out)) {
      typed = true;
      proc.stdin!.write('hello\n');
    }
    if (out.includes('< [binary') && !proc.stdin!.writableEnded) proc.stdin!.end();
  });
  const { code } = await exitOf(proc);
  assert.equal(code, 0, err);
  assert.equal(seen.headers!['sec-websocket-protocol'], 'chat, superchat');
  assert.equal(seen.headers!['x-test'], 'yes');
  assert.match(String(seen.headers!['sec-websocket-extensions']), /^permessage-deflate/);
  assert.deepEqual(seen.message, { data: 'hello', binary: true });
  assert.match(
    out,
    /^connected to ws:\/\/127\.0\.0\.1:\d+\/ \(subprotocol superchat, extensions permessage-deflate[^)]*\)/m,
  );
  assert.match(out, /^< \[binary, 4 bytes\] 00 01 02 ff$/m);
  assert.match(out, /^closed by local: 1000$/m);
  const info = await closed;
  assert.equal(info.code, 1000);
  assert.equal(info.initiatedBy, 'remote');
});

/** `ws-stream connect ARGS`: one line typed once connected, then end of input; its exit code and output. */
async function connectCli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const proc = spawn(process.execPath, [MAIN, 'connect', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    if (/^connected to /m.test(out) && !proc.stdin!.writableEnded) proc.stdin!.end('over tls\n');
  });
  proc.stdin!.on('error', () => {}); // a client that failed has closed its input
  const { code } = await exitOf(proc);
  return { code, out, err };
}

it('connect to serve --tls --cert --key: refused without trust (exit 1), connects with --ca FILE or --insecure', async (t) => {
  const { cert, key } = selfSigned();
  t.after(() => rmSync(dirname(cert), { recursive: true, force: true }));
  const server = await startProbed(['--tls', '--cert', cert, '--key', key], undefined, []);
  try {
    assert.match(server.url, /^wss:\/\//);
    const url = `wss://localhost:${server.port}/`;
    const untrusted = await connectCli([url]);
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.err, /self[- ]signed/i);
    assert.equal(untrusted.out, '');
    for (const trust of [['--ca', cert], ['--insecure']]) {
      const r = await connectCli([url, ...trust]);
      assert.equal(r.code, 0, `${trust.join(' ')}: ${r.err}`);
      assert.match(r.out, /^< over tls$/m, trust.join(' '));
      assert.match(r.out, /^closed by local: 1000$/m, trust.join(' '));
    }
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
});
