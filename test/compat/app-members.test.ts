/**
 * Members an application gives the objects of ws's API are its own. Code written for ws hangs methods and data on
 * its sockets and servers (`ws.write = (data) => ws.send(data)`, `ws.dispatch`, `ws.control = { admin: true }`,
 * `wss.refuse`), and ws names nothing of its own outside its documented API but with a leading `_`. ws-stream/ws's
 * `WebSocket` had private methods named `write`, `dispatch`, `control`, `deliver`, … and its `WebSocketServer`
 * `refuse`, `emitHeaders`, `maybeEmitClose`: an application's member of that name took their place (`ping()` threw
 * "this.control is not a function"; an app's `write` over `send` recursed). Run on both engines: a server and a
 * client of one engine, each carrying the members, exchange messages, a ping and a close; a raw request is refused.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { compat, impls, listen, rawPeer, ws } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Any = any;

/** Names an application may give its own members (words, as an app chooses them). */
const APP_MEMBERS = [
  'write',
  'dispatch',
  'control',
  'deliver',
  'autoPong',
  'answerClose',
  'closeStream',
  'readNext',
  'onRead',
  'emitMessage',
  'gotControl',
  'readEnded',
  'maybeEmitClose',
  'queuedBytes',
  'writeControl',
  'emitLater',
  'emitControls',
  'deliverHeld',
  'blobRead',
  'blobFailed',
  'drainBlobs',
  'failBlobs',
  'failBlobsOf',
  'failOnBlobError',
  'queueBehindBlob',
  'flushBeforeDestroy',
  'refuse',
  'emitHeaders',
  'id',
  'user',
];

/**
 * What an application gives its objects: every app member on each, as a method that records its call (the engine
 * never should make one). `misused` settles at the first such call, so a test that sees one ends at once.
 */
class AppMembers {
  readonly called: string[] = [];
  private readonly targets: Any[] = [];
  private onCall: () => void = () => {};
  readonly misused = new Promise<void>((resolve) => {
    this.onCall = resolve;
  });

  give(target: Any, side: string): void {
    this.targets.push(target);
    for (const name of APP_MEMBERS)
      target[name] = () => {
        this.called.push(`${side}.${name}`);
        this.onCall();
      };
  }

  /** Takes them back, so that the test's cleanup (terminate, close) runs the engine's own methods. */
  takeBack(): void {
    for (const target of this.targets) for (const name of APP_MEMBERS) delete target[name];
  }
}

for (const impl of impls) {
  describe(`${impl.name}: an application's members on its sockets and server`, () => {
    it('are never called by the engine: messages, a ping, a close and a refusal go as without them', async (t) => {
      const members = new AppMembers();
      const { wss, port } = await listen(t, impl);
      members.give(wss, 'server');
      const serverSide: string[] = [];
      const serverClosed = new Promise<void>((resolve) =>
        wss.on('connection', (socket: Any) => {
          members.give(socket, 'socket');
          socket.on('message', (data: Buffer) => {
            serverSide.push(`message:${data}`);
            socket.close(1000, 'done');
          });
          socket.on('close', (code: number) => {
            serverSide.push(`close:${code}`);
            resolve();
          });
          socket.send('hello');
          socket.ping('p');
        }),
      );
      const clientSide: string[] = [];
      const exchange = (async () => {
        const refused = await rawPeer(
          t,
          port,
          'POST / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
        );
        clientSide.push(`refused:${(await refused.responseHead()).status}`);
        const client = new impl.WebSocket(`ws://127.0.0.1:${port}/`);
        members.give(client, 'client');
        t.after(() => client.terminate());
        client.on('message', (data: Buffer) => {
          clientSide.push(`message:${data}`);
          client.send('back');
        });
        client.on('ping', (data: Buffer) => clientSide.push(`ping:${data}`));
        const [code, reason] = await once(client, 'close');
        clientSide.push(`close:${code}:${reason}`);
        await serverClosed;
      })();
      await Promise.race([exchange, members.misused]);
      members.takeBack();
      assert.deepEqual(members.called, []);
      assert.deepEqual(clientSide, ['refused:405', 'message:hello', 'ping:p', 'close:1000:done']);
      assert.deepEqual(serverSide, ['message:back', 'close:1000']);
    });
  });
}

describe('the members an application may take', () => {
  it("ws-stream/ws's WebSocket and WebSocketServer have none beyond ws's API that ws leaves free (ws's own: `_`-prefixed)", () => {
    const free = (cls: Any, reference: Any): string[] => {
      const names = new Set<string>();
      for (let p = cls.prototype; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p))
        for (const n of Object.getOwnPropertyNames(p)) names.add(n);
      return [...names].filter((n) => !n.startsWith('_') && !(n in reference.prototype)).sort();
    };
    assert.deepEqual(free(ws.WebSocket, ws.WebSocket), []);
    assert.deepEqual(free(compat.WebSocket, ws.WebSocket), []);
    assert.deepEqual(free(compat.WebSocketServer, ws.WebSocketServer), []);
  });
});
