/** node:http hands the upgrade to ws-stream: `accept(req, { head })`, then echo. Run: node dist/examples/http-upgrade.js */
import http from 'node:http';
import { WebSocketStream, rejectUpgrade, type WebSocketError } from '../src/index.js';

const server = http.createServer((_req, res) => res.end('a WebSocket endpoint lives at /\n'));

server.on('upgrade', (req, socket, head) => {
  if (req.url !== '/') return void rejectUpgrade(socket, 404);
  const ws = new WebSocketStream(socket);
  ws.accept(req, {
    head,
    decorator: (h) => {
      h.Server = 'example';
    },
  }).then(
    async () => {
      try {
        for await (const msg of ws) await ws.write(msg.data, { binary: msg.binary });
      } catch (err) {
        console.log('connection ended:', (err as WebSocketError).code);
      }
    },
    (err: WebSocketError) => console.log('handshake refused:', err.code),
  );
});

server.listen(Number(process.env.PORT ?? 8081), '127.0.0.1', function (this: { address(): unknown }) {
  console.log(`listening on ws://127.0.0.1:${(this.address() as { port: number }).port}/`);
});
