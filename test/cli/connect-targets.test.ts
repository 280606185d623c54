/**
 * `ws-stream connect` against real servers (the `ws` package's, and `ws-stream serve`) at the targets a
 * tester points it at besides ws://127.0.0.1: wss:// with a self-signed certificate (trusted with
 * --ca, refused without it with a hint, accepted with --insecure; SNI for a name, none for an
 * address), and the IPv6 loopback ws://[::1] and wss://[::1]. A machine without IPv6 on loopback
 * says so in the name of the one test that stands for them, and that test checks that this is the reason.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import tls from 'node:tls';
import { WebSocketServer } from 'ws';
import { startServer } from '../conformance/raw-client.js';
import { ipv6LoopbackMissing, NO_IPV6_CODES } from '../support/ipv6.js';
import { selfSigned } from '../support/tls-cert.js';
import { MAIN, exitOf, runConnectEcho } from './cli-support.js';

/** What the server saw of one upgrade. */
interface Seen {
  host: string | undefined;
  remote: string | undefined;
  encrypted: boolean;
  /** The TLS server name the client sent (SNI); none for an IP address (RFC 6066 §3). */
  sni: string | false | null | undefined;
}

const files = selfSigned();

/** A `ws` echo server on `host`, over TLS with the test certificate when `secure`; closed after the test. */
async function echoServer(t: TestContext, host: string, secure: boolean): Promise<{ port: number; seen: Seen[] }> {
  const server = secure
    ? https.createServer({ cert: readFileSync(files.cert), key: readFileSync(files.key) })
    : http.createServer();
  const wss = new WebSocketServer({ server });
  const seen: Seen[] = [];
  wss.on('connection', (ws, req) => {
    const socket = req.socket as tls.TLSSocket;
    seen.push({
      host: req.headers.host,
      remote: socket.remoteAddress,
      encrypted: socket.encrypted === true,
      sni: socket.servername,
    });
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  server.listen(0, host);
  await once(server, 'listening');
  t.after(() => {
    wss.close();
    server.closeAllConnections();
    server.close();
  });
  return { port: (server.address() as AddressInfo).port, seen };
}

/** What a run that connected, echoed `line` and closed prints, in order. */
function assertEchoed(run: { code: number | null; out: string; err: string }, url: string, line: string): void {
  assert.equal(run.code, 0, run.err);
  assert.equal(
    run.out,
    `connected to ${url}; type a message and Enter to send, Ctrl-D to close\n< ${line}\nclosed by local: 1000\n`,
  );
}

describe('ws-stream connect wss:// (a self-signed certificate for 127.0.0.1 and localhost)', () => {
  it('--ca FILE trusts it: a line goes over TLS and comes back, closed with 1000; no SNI for an address', async (t) => {
    const { port, seen } = await echoServer(t, '127.0.0.1', true);
    const url = `wss://127.0.0.1:${port}/`;
    assertEchoed(await runConnectEcho([url, '--ca', files.cert], 'over TLS ✓'), url, 'over TLS ✓');
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.encrypted, true);
    assert.equal(seen[0]!.host, `127.0.0.1:${port}`);
    assert.ok(!seen[0]!.sni, `no server name for an IP address, got ${seen[0]!.sni}`);
  });

  it('wss://localhost: the host name goes as SNI and is checked against the certificate', async (t) => {
    const { port, seen } = await echoServer(t, '127.0.0.1', true);
    const url = `wss://localhost:${port}/path?q=1`;
    assertEchoed(await runConnectEcho([url, '--ca', files.cert], 'by name'), url, 'by name');
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.sni, 'localhost');
    assert.equal(seen[0]!.host, `localhost:${port}`);
  });

  it('without --ca: exit 1 with the certificate error and how to go on; no upgrade reached the server', async (t) => {
    const { port, seen } = await echoServer(t, '127.0.0.1', true);
    const run = await runConnectEcho([`wss://127.0.0.1:${port}/`], 'never sent');
    assert.equal(run.code, 1);
    assert.equal(run.out, '');
    assert.equal(
      run.err,
      'ws-stream: ERR_WS_NEXT_LAYER: the next layer failed: self-signed certificate\n' +
        "ws-stream: the server's certificate is not trusted: --ca FILE trusts it, --insecure skips the check\n",
    );
    assert.equal(seen.length, 0);
  });

  it('--insecure: any certificate is taken', async (t) => {
    const { port, seen } = await echoServer(t, '127.0.0.1', true);
    const url = `wss://127.0.0.1:${port}/`;
    assertEchoed(await runConnectEcho([url, '--insecure'], 'unchecked'), url, 'unchecked');
    assert.equal(seen[0]?.encrypted, true);
  });

  it('a refusal that is not about the certificate gets no certificate hint', async () => {
    // A closed port: connecting is refused before any TLS.
    const server = http.createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    const run = await runConnectEcho([`wss://127.0.0.1:${port}/`], 'never sent');
    assert.equal(run.code, 1);
    assert.match(run.err, /^ws-stream: ERR_WS_NEXT_LAYER: the next layer failed: connect ECONNREFUSED [^\n]*\n$/);
  });
});

const missing = await ipv6LoopbackMissing();

if (missing === null) {
  describe('ws-stream connect to the IPv6 loopback [::1]', () => {
    it('ws://[::1]:PORT/: over IPv6, with Host [::1]:PORT', async (t) => {
      const { port, seen } = await echoServer(t, '::1', false);
      const url = `ws://[::1]:${port}/`;
      assertEchoed(await runConnectEcho([url], 'over IPv6'), url, 'over IPv6');
      assert.deepEqual(seen, [{ host: `[::1]:${port}`, remote: '::1', encrypted: false, sni: undefined }]);
    });

    it('wss://[::1]:PORT/ --ca: a certificate naming ::1 is trusted; no SNI for an address', async (t) => {
      const { port, seen } = await echoServer(t, '::1', true);
      const url = `wss://[::1]:${port}/`;
      assertEchoed(await runConnectEcho([url, '--ca', files.cert], 'TLS over IPv6'), url, 'TLS over IPv6');
      assert.equal(seen.length, 1);
      assert.equal(seen[0]!.remote, '::1');
      assert.equal(seen[0]!.host, `[::1]:${port}`);
      assert.ok(!seen[0]!.sni, `no server name for an IP address, got ${seen[0]!.sni}`);
    });

    it('serve --host [::1] (as a URL writes it) or ::1: listens on ::1 and prints a URL that parses, which connect reaches', async (t) => {
      for (const args of [
        ['--host', '[::1]'],
        ['--host', '::1'],
        ['--host', '[::1]', '--workers', '2'],
        ['--host', '[::1]', '--pubsub'],
      ]) {
        const proc = spawn(process.execPath, [MAIN, 'serve', '--port', '0', '--quiet', ...args], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        const exited = exitOf(proc);
        t.after(async () => {
          proc.kill('SIGINT');
          await exited;
        });
        let out = '';
        const firstLine = new Promise<void>((resolve, reject) => {
          proc.stdout.setEncoding('utf8').on('data', (d: string) => {
            out += d;
            if (out.includes('\n')) resolve();
          });
          void exited.then(() => reject(new Error(`serve ${args.join(' ')} exited: ${out}`)));
        });
        await firstLine;
        const url = /listening on (\S+)/.exec(out)?.[1];
        assert.match(url ?? '', /^ws:\/\/\[::1\]:\d+\/$/, `${args.join(' ')}: ${out}`);
        assert.equal(new URL(url!).hostname, '[::1]');
        if (!args.includes('--pubsub')) assertEchoed(await runConnectEcho([url!], 'bracketed'), url!, 'bracketed');
        proc.kill('SIGINT');
        await exited;
      }
    });

    it('serve --tls --host ::1: the certificate it makes names ::1, so connect --ca with it reaches it', async (t) => {
      const server = await startServer(['--tls', '--host', '::1']);
      t.after(() => server.stop());
      // The certificate as the server presents it, saved as the file a tester would give to --ca.
      const socket = tls.connect({ host: '::1', port: server.port, rejectUnauthorized: false });
      await once(socket, 'secureConnect');
      const der = socket.getPeerCertificate().raw;
      socket.destroy();
      const dir = mkdtempSync(join(tmpdir(), 'ws-stream-ca-'));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const ca = join(dir, 'served.pem');
      const b64 = der
        .toString('base64')
        .match(/.{1,64}/g)!
        .join('\n');
      writeFileSync(ca, `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`);
      const url = `wss://[::1]:${server.port}/`;
      assertEchoed(await runConnectEcho([url, '--ca', ca], 'served over IPv6'), url, 'served over IPv6');
    });
  });
} else {
  it(`ws-stream connect to [::1]: NOT TESTED, this machine has no IPv6 loopback (listening on ::1: ${missing})`, (t) => {
    t.diagnostic(`the [::1] targets of ws-stream connect were not run: listening on ::1 failed with ${missing}`);
    assert.ok(
      NO_IPV6_CODES.includes(missing),
      `${missing} is not a "no IPv6 here" error: a failure of the test itself`,
    );
  });
}

process.on('exit', () => rmSync(dirname(files.cert), { recursive: true, force: true }));
