/** The ceiling: a raw node:net echo of the same bytes, no WebSocket at all. */
import net from 'node:net';

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => {});
  socket.pipe(socket);
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () =>
  console.log(`listening ${(server.address() as net.AddressInfo).port}`),
);
