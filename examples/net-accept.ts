/** A server on `net` alone: the stream reads the request itself with `accept()`. Run: node dist/examples/net-accept.js */
import net from 'node:net';
import { WebSocketStream, type WebSocketError } from '../src/index.js';

net
  .createServer(async (socket) => {
    const ws = new WebSocketStream(socket);
    try {
      await ws.accept({ selectProtocol: (offered) => (offered.includes('echo') ? 'echo' : undefined) });
      for await (const msg of ws) await ws.write(msg.data, { binary: msg.binary });
    } catch (err) {
      console.log('ended:', (err as WebSocketError).code);
    }
  })
  .listen(Number(process.env.PORT ?? 8082), '127.0.0.1', function (this: { address(): unknown }) {
    console.log(`listening on ws://127.0.0.1:${(this.address() as { port: number }).port}/`);
  });
