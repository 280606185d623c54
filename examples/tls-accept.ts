/**
 * A wss:// server on `tls`, with a self-signed certificate generated at start (openssl) unless
 * CERT and KEY name files. Routes with `readRequest` and `isUpgrade` before accepting.
 * Run: node dist/examples/tls-accept.js
 */
import tls from 'node:tls';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketStream, isUpgrade, readRequest, rejectUpgrade } from '../src/index.js';

function selfSigned(): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'ws-stream-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '30',
      '-subj',
      '/CN=localhost',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  try {
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  } finally {
    rmSync(dir, { recursive: true, force: true }); // the private key does not outlive the read
  }
}

const creds =
  process.env.CERT && process.env.KEY
    ? { key: readFileSync(process.env.KEY), cert: readFileSync(process.env.CERT) }
    : selfSigned();

tls
  .createServer(creds, async (socket) => {
    try {
      const { request, head } = await readRequest(socket);
      if (!isUpgrade(request)) return void (await rejectUpgrade(socket, 426, { headers: { Upgrade: 'websocket' } }));
      const ws = new WebSocketStream(socket);
      await ws.accept(request, { head });
      for await (const msg of ws) await ws.write(msg.data, { binary: msg.binary });
    } catch {
      socket.destroy();
    }
  })
  .listen(Number(process.env.PORT ?? 8443), '127.0.0.1', function (this: { address(): unknown }) {
    console.log(`listening on wss://127.0.0.1:${(this.address() as { port: number }).port}/`);
  });
