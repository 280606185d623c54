/**
 * The Azure Web PubSub client (@azure/web-pubsub-client 1.0, which imports `ws` in Node), run with `ws` as installed
 * and aliased to ws-stream/ws (test/support/ws-alias.ts) in a child process each (apps/webpubsub.ts), against a local
 * service on the real ws speaking the reliable JSON subprotocol. Both must show the same: the connected message,
 * acked joins and sends (a refused join with the service's error), group messages as text, JSON, bytes (base64 on the
 * wire, an ArrayBuffer to the app) and 100 kB, a server message, a dropped connection recovered by id and token with
 * the duplicate after it dropped, a 1008 after a `disconnected` message answered by a fresh connection that rejoins
 * the group, the client's own sequence acks, `stop()`, the engine's message for a start refused with 401, and the
 * socket's own error (code, syscall, address) for a start to a closed port.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';
import { describeEachEngine } from './side-by-side.js';

const ack = (ackId: number) => ({ ackId, isDuplicated: false });

describeEachEngine(aliasEngines, '@azure/web-pubsub-client', (engine) => {
  it('joins, sends, receives, recovers a dropped connection, reconnects after 1008, stops', async (t) => {
    const result = await runApp<Record<string, unknown>>(t, 'webpubsub', engine);
    const connect = `connect jwt json.reliable.webpubsub.azure.v1`;
    assert.deepEqual(result, {
      aliased: engine.name === 'ws-stream/ws',
      connected: 'connected conn-1 ada',
      joined: ack(1),
      forbidden: {
        name: 'SendMessageError',
        message: 'Failed to send message.',
        detail: { name: 'Forbidden', message: 'not for you' },
      },
      sent: [ack(3), ack(4), ack(5), ack(6), ack(7)],
      messages: [
        ['room', 'text', 'héllo', 1],
        ['room', 'json', { n: 1 }, 2],
        ['room', 'binary', [0, 1, 254, 255], 3],
        ['room', 'text', 100_000, 4],
        ['server', 'json', { event: 'hello', got: 'from ada' }, 5],
      ],
      droppedOnService: '1006 ',
      recovered: true,
      afterRecovery: ['room', 'text', 'after', 6],
      kicked: ['disconnected conn-1 kicked', '1008 policy', 'connected conn-2 ada'],
      afterKick: ['room', 'text', 'still here', 7],
      ackedUpTo: 7,
      stopped: ['disconnected conn-2 undefined', 'stopped', '1005 '],
      refused: 'Unexpected server response: 401',
      unreachable: {
        name: 'Error',
        message: 'connect ECONNREFUSED 127.0.0.1:PORT',
        code: 'ECONNREFUSED',
        syscall: 'connect',
        address: '127.0.0.1',
        port: true,
      },
      service: [
        connect,
        'text joinGroup room',
        'text joinGroup forbidden',
        'text sendToGroup room text',
        'text sendToGroup room json',
        'text sendToGroup room binary',
        'text sendToGroup room text',
        'text event hello text',
        'recover conn-1 token-1 json.reliable.webpubsub.azure.v1',
        connect,
        'text joinGroup room',
        'text sendToGroup room text',
      ],
    });
  });
});
