/**
 * Interoperability with libwebsockets (Debian's libwebsockets-dev) as a client: a small C program
 * (peers/lws-client.c, built here with gcc into dist/) sends a text message and a 200 KB binary
 * message in 16 KiB fragments, with and without permessage-deflate, and reports what it received.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import type net from 'node:net';
import { WebSocketStream } from '../../src/index.js';
import { startServer } from '../conformance/raw-client.js';
import { startInteropServer } from './support.js';
import { startEchoServer } from './edge.js';
import type { DeflateOptions } from '../../src/index.js';

const source = fileURLToPath(new URL('../../../test/interop/peers/lws-client.c', import.meta.url));
const binary = fileURLToPath(new URL('../../lws-client', import.meta.url));

/** Builds the client unless dist/ holds one newer than its source. */
function buildClient(): void {
  if (existsSync(binary) && statSync(binary).mtimeMs >= statSync(source).mtimeMs) return;
  const flags = execFileSync('pkg-config', ['--cflags', '--libs', 'libwebsockets'], { encoding: 'utf8' })
    .trim()
    .split(/\s+/)
    .filter(Boolean);
  execFileSync('gcc', ['-O2', '-Wall', '-o', binary, source, ...flags], { stdio: 'inherit' });
}

/** A client that loops on one message prints without end: it is stopped after this many messages. */
const MAX_MESSAGES = 10;

interface ClientRun {
  code: number | null;
  lines: string[];
}

/** Runs the client against 127.0.0.1:`port` until it exits (or is stopped for looping). */
function runClient(port: number, deflate: boolean, offer?: string): Promise<ClientRun> {
  const args = [String(port), ...(deflate ? ['--deflate'] : []), ...(offer ? [offer] : [])];
  const p = spawn(binary, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let rest = '';
  let received = 0;
  p.stdout.on('data', (d: Buffer) => {
    const parts = (rest + d.toString()).split('\n');
    rest = parts.pop()!;
    for (const line of parts) {
      if (line.startsWith('received ') && ++received > MAX_MESSAGES) {
        p.kill();
        return;
      }
      lines.push(line);
    }
  });
  return new Promise((resolve) => p.once('close', (code) => resolve({ code, lines })));
}

/** The client sent a text and a binary message and received each back, same type, length and hash. */
function assertEchoed(run: ClientRun, compressed: boolean): void {
  const sent = run.lines.filter((l) => l.startsWith('sent '));
  const received = run.lines.filter((l) => l.startsWith('received '));
  assert.deepEqual(
    sent.map((l) => l.split(' ').slice(1, 3)),
    [
      ['text', '24'],
      ['binary', '204800'],
    ],
  );
  assert.deepEqual(
    received,
    sent.map((l) => `received ${l.slice('sent '.length)} compressed=${compressed ? 1 : 0}`),
    `libwebsockets saw: ${received.join(' | ')}`,
  );
  assert.ok(run.lines.includes('established'));
  assert.equal(run.lines.at(-1), 'closed');
  assert.equal(run.code, 0);
}

describe('libwebsockets client', () => {
  before(() => {
    buildClient();
    const version = execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim();
    console.log(`libwebsockets client: ${version.replace(/^version /, '')}`);
  });

  for (const deflate of [false, true]) {
    describe(`against ws-stream serve${deflate ? ' --deflate' : ''}`, () => {
      let server: Awaited<ReturnType<typeof startServer>>;
      let log = '';
      before(async () => {
        server = await startServer(deflate ? ['--deflate', '--log'] : ['--log']);
        server.proc.stdout!.on('data', (d: Buffer) => {
          log += d.toString();
        });
      });
      after(() => server.stop());

      it(`a text and a 200 KB binary message in 16 KiB fragments come back with their types${deflate ? ', compressed' : ''}`, async () => {
        const run = await runClient(server.port, deflate);
        assertEchoed(run, deflate);
        assert.match(
          log,
          deflate ? /^websocket open over HTTP\/1\.1 with permessage-deflate/m : /^websocket open over HTTP\/1\.1$/m,
        );
      });
    });
  }

  it('against a ws-stream server with the default permessage-deflate options: every message comes back compressed', async () => {
    const srv = await startInteropServer(true);
    try {
      const run = await runClient(srv.port, true);
      assertEchoed(run, true);
      assert.match(srv.seen[0]!.extensions ?? '', /^permessage-deflate/);
    } finally {
      srv.close();
    }
  });

  it('against a ws-stream server that streams its echo (readSome/writeSome) and opens each message with a compressed fragment that holds no data', async () => {
    const server = http.createServer();
    server.on('upgrade', (req, socket, head) => {
      const ws = new WebSocketStream(socket, { perMessageDeflate: true });
      const pump = async (): Promise<void> => {
        await ws.accept(req, { head });
        let first = true;
        for (;;) {
          const piece = await ws.readSome();
          // RFC 7692 allows a first frame whose compressed payload inflates to nothing.
          if (first) await ws.writeSome(Buffer.alloc(0), { binary: piece.binary, fin: false });
          await ws.writeSome(piece.data, { fin: piece.fin });
          first = piece.fin;
        }
      };
      pump().catch(() => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      assertEchoed(await runClient((server.address() as net.AddressInfo).port, true), true);
    } finally {
      server.close();
      server.closeAllConnections();
    }
  });

  describe('permessage-deflate offers and server configurations', () => {
    const offers = [
      'permessage-deflate; client_max_window_bits',
      'permessage-deflate; client_no_context_takeover; server_no_context_takeover',
      'permessage-deflate; server_max_window_bits=9; client_max_window_bits',
      'permessage-deflate; client_max_window_bits=10',
    ];
    // libwebsockets 4.1.6 delivers an uncompressed message (RSV1 clear) on a permessage-deflate connection
    // again and again without end (it does so with ws's server too): a server without context takeover
    // sends its messages below `threshold` uncompressed (also when the client asked for it), so threshold 0 here.
    const configs: DeflateOptions[] = [
      {},
      { serverMaxWindowBits: 8 },
      { clientMaxWindowBits: 8 },
      { serverNoContextTakeover: true, clientNoContextTakeover: true },
    ];
    for (const config of configs) {
      for (const offer of offers) {
        // An offer without client_max_window_bits cannot limit the client's window: it is declined.
        const declined = config.clientMaxWindowBits !== undefined && !offer.includes('client_max_window_bits');
        it(`${JSON.stringify(config)} ← "${offer}"${declined ? ': declined, uncompressed' : ''}`, async () => {
          const srv = await startEchoServer({ perMessageDeflate: { threshold: 0, ...config } });
          const record = srv.next();
          const run = await runClient(srv.port, true, offer);
          assertEchoed(run, !declined);
          const rec = await record;
          assert.equal(rec.offered, offer);
          if (declined) assert.equal(rec.extensions, '');
          else assert.match(rec.extensions, /^permessage-deflate/);
          assert.deepEqual([rec.closeInfo.code, rec.closeInfo.wasClean], [1000, true]);
        });
      }
    }
  });
});
