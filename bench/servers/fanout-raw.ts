/**
 * The ceiling of the fan-out cell: a node:net server that writes each chunk it reads to every
 * connected socket (the sender too), no WebSocket and no framing. It greets each socket with CRLFCRLF,
 * as a handshake response would end, once the socket is in the set.
 */
import net from 'node:net';

const sockets = new Set<net.Socket>();
const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  sockets.add(socket);
  socket.write('\r\n\r\n'); // tells the load generator that this socket now receives what is published
  socket.on('error', () => {});
  socket.on('close', () => sockets.delete(socket));
  socket.on('data', (chunk) => {
    for (const s of sockets) s.write(chunk);
  });
});
server.listen({ port: Number(process.argv[2] ?? 0), host: '127.0.0.1', backlog: 2048 }, () =>
  console.log(`listening ${(server.address() as net.AddressInfo).port}`),
);
