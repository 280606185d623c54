/**
 * `ws-stream connect URL`: an interactive client like wscat. Lines typed are sent as messages;
 * received messages are printed; end of input (Ctrl-D) or Ctrl-C closes with 1000.
 */
import { createInterface } from 'node:readline';
import { WebSocketError } from '../errors.js';
import { ClientHandshakeError } from '../proto/handshake-client.js';
import { untrustedCertificate } from '../stream/next-layer.js';
import { connect } from '../stream/connect.js';
import type { WebSocketStream } from '../stream/websocket-stream.js';
import type { ConnectConfig } from './args.js';
import { readPemFile } from './pem-file.js';

/** The line that shows a received message: text as it is, binary as its size and first bytes in hex. */
function show(data: Buffer, binary: boolean): string {
  if (!binary) return `< ${data.toString('utf8')}`;
  const size = `< [binary, ${data.length} bytes]`;
  if (data.length === 0) return size; // no bytes to show: nothing after the size, not even a space
  const hex = data.subarray(0, 32).toString('hex').replace(/(..)/g, '$1 ').trim();
  return `${size} ${hex}${data.length > 32 ? ' …' : ''}`;
}

/** Bytes of typed lines that may wait to be sent before stdin is read further. */
const INPUT_BACKLOG = 1024 * 1024;

export async function runConnect(o: ConnectConfig): Promise<number> {
  let ca: Buffer | undefined;
  try {
    ca = o.ca === undefined ? undefined : readPemFile(o.ca, 'certificate');
  } catch (err) {
    console.error(`ws-stream connect: --ca: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  let ws: WebSocketStream;
  try {
    ws = await connect(o.url, {
      protocols: o.protocols,
      headers: o.headers,
      rejectUnauthorized: !o.insecure,
      perMessageDeflate: o.deflate,
      ca,
    });
  } catch (err) {
    if (err instanceof ClientHandshakeError && err.response) {
      const r = err.response;
      console.error(`ws-stream: the server refused the upgrade: HTTP ${r.status} ${r.reason}`);
      if (r.body.length > 0) console.error(r.body.toString('utf8').trimEnd());
    } else {
      console.error(
        `ws-stream: ${err instanceof WebSocketError ? `${err.code}: ` : ''}${err instanceof Error ? err.message : String(err)}`,
      );
      // wss:// to a server with a self-signed certificate, or one for another name, is what a tester meets first.
      if (untrustedCertificate(err)) {
        console.error(
          "ws-stream: the server's certificate is not trusted: --ca FILE trusts it, --insecure skips the check",
        );
      }
    }
    return 1;
  }
  const details = [ws.protocol && `subprotocol ${ws.protocol}`, ws.extensions && `extensions ${ws.extensions}`]
    .filter(Boolean)
    .join(', ');
  const input = createInterface({ input: process.stdin, terminal: false });
  const stream = ws;
  // Bytes of lines whose write has not completed. Past INPUT_BACKLOG, stdin is read no further until
  // writes complete: a server that does not read holds back the input (`cat big | ws-stream connect`),
  // rather than the whole of it piling up in this process.
  let unsent = 0;
  let inputClosed = false;
  input.on('line', (line) => {
    if (!stream.isOpen) return;
    const size = Buffer.byteLength(line);
    unsent += size;
    if (unsent > INPUT_BACKLOG) input.pause();
    const written = (): void => {
      unsent -= size;
      if (unsent <= INPUT_BACKLOG && !inputClosed) input.resume();
    };
    stream.write(line, { binary: o.binary }, written);
  });
  input.on('close', () => {
    inputClosed = true;
    if (stream.isOpen) void stream.close({ code: 1000 });
  });
  process.once('SIGINT', () => {
    if (stream.isOpen) void stream.close({ code: 1000 });
    else process.exit(0);
  });
  // Printed once Ctrl-C is ours: a Ctrl-C right after this line closes with 1000 rather than killing the process.
  console.log(
    `connected to ${o.url}${details ? ` (${details})` : ''}; type a message and Enter to send, Ctrl-D to close`,
  );
  let code = 0;
  try {
    for await (const msg of ws) console.log(show(msg.data, msg.binary));
  } catch (err) {
    console.error(`ws-stream: ${(err as WebSocketError).code}: ${(err as Error).message}`);
    code = 1;
  }
  const info = await ws.whenClosed();
  console.log(`closed by ${info.initiatedBy}: ${info.code}${info.reason ? ` ${info.reason}` : ''}`);
  input.close();
  return code;
}
