/** ws-stream on node:net alone: `accept()` reads the request with the library's own parser. */
import net from 'node:net';
import { WebSocketStream } from '../../src/index.js';
import { echo } from '../../src/cli/serve.js';

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  const ws = new WebSocketStream(socket);
  // The callback form, as `serve` uses: no Promise per handshake.
  ws.accept((err) => {
    if (!err) echo(ws);
  });
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () =>
  console.log(`listening ${(server.address() as net.AddressInfo).port}`),
);
