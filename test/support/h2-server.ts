/** An HTTP/2 (TLS) server with extended CONNECT for the RFC 8441 tests, on the fixture certificate. */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

const fixture = (n: string) => readFileSync(fileURLToPath(new URL(`../../../test/fixtures/${n}`, import.meta.url)));
/** The fixture certificate (localhost), for clients to trust. */
export const ca = fixture('cert.pem');
export type After = { after(fn: () => unknown): void };

/** An HTTP/2 server with extended CONNECT handing each stream to `onStream`, its sessions destroyed and it closed after the test. */
export async function h2Server(
  t: After,
  onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void,
): Promise<number> {
  const server = http2.createSecureServer({
    key: fixture('key.pem'),
    cert: ca,
    settings: { enableConnectProtocol: true },
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('error', () => {});
  });
  server.on('stream', onStream);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of sessions) s.destroy();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

/** The headers of a valid extended CONNECT (RFC 8441) to `port`, plus `extra`. */
export const connectHeaders = (port: number, extra: http2.OutgoingHttpHeaders = {}): http2.OutgoingHttpHeaders => ({
  ':method': 'CONNECT',
  ':protocol': 'websocket',
  ':scheme': 'https',
  ':path': '/',
  ':authority': `localhost:${port}`,
  'sec-websocket-version': '13',
  ...extra,
});
