/**
 * `close(code)` with a fraction: ws checks the range only and writes the code with writeUInt16BE, which drops the
 * fraction, so `close(3004.5, 'float')` sends 3004 and both 'close' events say 3004. ws-stream/ws does the same
 * (it threw its own `ERR_WS_INVALID_ARGUMENT` before). A fraction that drops to 1004-1006 makes ws send a code no
 * endpoint may send (RFC 6455 §7.4.1); ws-stream/ws throws ws's TypeError for it instead (doc/ws-compat.md).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { impls, listen, rawPeer } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Ws = any;

for (const impl of impls) {
  describe(`${impl.name}: a close code with a fraction`, () => {
    it('close(3004.5, reason) sends 3004; the server and the client both report 3004', async (t) => {
      const { wss, port } = await listen(t, impl);
      const serverClosed = new Promise<[number, string]>((resolve) => {
        wss.on('connection', (sws: Ws) =>
          sws.on('close', (code: number, reason: Buffer) => resolve([code, String(reason)])),
        );
      });
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      await once(client, 'open');
      const clientClosed = new Promise<[number, string]>((resolve) =>
        client.on('close', (code: number, reason: Buffer) => resolve([code, String(reason)])),
      );
      client.close(3004.5, 'float');
      assert.deepEqual(await serverClosed, [3004, 'float']);
      assert.deepEqual(await clientClosed, [3004, 'float']);
    });

    it('on the wire: a server close(4998.9) sends 4998 (0x1386)', async (t) => {
      const { wss, port } = await listen(t, impl);
      wss.on('connection', (sws: Ws) => sws.close(4998.9, 'x'));
      const peer = await rawPeer(t, port);
      await peer.responseHead();
      const [frame] = await peer.waitFrames(1);
      assert.equal(frame!.opcode, 8);
      assert.equal(frame!.payload.toString('hex'), `1386${Buffer.from('x').toString('hex')}`);
    });

    it('close(1005.5): ws sends 1005, which no endpoint may send; ws-stream/ws throws TypeError', async (t) => {
      const { wss, port } = await listen(t, impl);
      const thrown = new Promise<string>((resolve) => {
        wss.on('connection', (sws: Ws) => {
          try {
            sws.close(1005.5);
            resolve('sent');
          } catch (err) {
            resolve(`${(err as Error).constructor.name}: ${(err as Error).message}`);
          }
        });
      });
      const peer = await rawPeer(t, port);
      await peer.responseHead();
      if (impl.name === 'ws') {
        assert.equal(await thrown, 'sent');
        const [frame] = await peer.waitFrames(1);
        assert.equal(frame!.payload.toString('hex'), '03ed');
      } else {
        assert.equal(await thrown, 'TypeError: First argument must be a valid error code number');
      }
    });
  });
}
