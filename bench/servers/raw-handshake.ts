/**
 * The floor of the handshake cells: node:net answering each connection's first bytes with a fixed
 * 101 response (no parsing, no key hashing, no WebSocket). What any Node server pays per connection.
 */
import net from 'node:net';

const response = Buffer.from(
  'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n',
);
const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => {});
  socket.once('data', () => socket.write(response));
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () =>
  console.log(`listening ${(server.address() as net.AddressInfo).port}`),
);
