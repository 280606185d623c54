/**
 * Colyseus 0.18 (@colyseus/core with @colyseus/ws-transport, which imports ws's WebSocketServer; @colyseus/sdk, whose
 * transport takes ws's WebSocket on Node 20), run by colyseus.test.ts with `ws` as installed or aliased to
 * ws-stream/ws: both ends are the engine under test. A room with a @colyseus/schema state; two SDK clients join,
 * send messages, see state patches and broadcasts; one is dropped and reconnects (allowReconnection), then both leave.
 * Prints what the clients and the room saw.
 */
import type http from 'node:http';
import { createRequire } from 'node:module';
import type net from 'node:net';
import { type Client as RoomClient, Room, Server } from '@colyseus/core';
import { type MapSchema, schema, t } from '@colyseus/schema';
import { Client } from '@colyseus/sdk';
import { WebSocketTransport } from '@colyseus/ws-transport';
import { aliased, ours, report } from './peer.js';

const require = createRequire(import.meta.url);
// @colyseus/core 0.18 reads `WebSocket.OPEN` from the global on a reconnection (Node 22 has a global WebSocket, Node
// 20 has none). The SDK chose its class when it was imported (above), so this gives core only the constant.
(globalThis as { WebSocket?: unknown }).WebSocket ??= { OPEN: 1 };
const result: Record<string, unknown> = {
  aliased: [aliased(require.resolve('@colyseus/ws-transport')), aliased(require.resolve('@colyseus/sdk'))],
};
const roomSaw: string[] = [];
let dropped: () => void = () => {};
let disposed: () => void = () => {};

const Player = schema({ name: t.string(), score: t.number() }, 'Player');
const State = schema({ players: t.map(Player), round: t.number() }, 'State');

class Arena extends Room {
  override state = new State();
  override onCreate() {
    this.state.round = 1;
    this.onMessage('score', (client: RoomClient, points: number) => {
      const player = this.state.players.get(client.sessionId);
      if (player) player.score += points;
    });
    this.onMessage('shout', (client: RoomClient, text: string) => {
      // The transport's maxPayload is 4 KiB (client to server); the broadcast is bigger.
      const from = this.state.players.get(client.sessionId)?.name;
      this.broadcast('shouted', { from, text: text.repeat(10_000) }, { except: client });
    });
    // Cuts the sender's socket without a close frame, as a lost network would.
    this.onMessage('cut me', (client: RoomClient) => {
      (client as unknown as { ref: { terminate(): void } }).ref.terminate();
    });
  }
  override onJoin(client: RoomClient, options: { name: string }) {
    roomSaw.push(`join ${options.name}`);
    this.state.players.set(client.sessionId, new Player({ name: options.name, score: 0 }));
  }
  override async onDrop(client: RoomClient, code?: number) {
    roomSaw.push(`drop ${this.state.players.get(client.sessionId)?.name} ${code}`);
    dropped();
    await this.allowReconnection(client, 20);
  }
  override onReconnect(client: RoomClient) {
    roomSaw.push(`reconnect ${this.state.players.get(client.sessionId)?.name}`);
  }
  override onLeave(client: RoomClient, code?: number) {
    roomSaw.push(`leave ${this.state.players.get(client.sessionId)?.name} ${code}`);
    this.state.players.delete(client.sessionId);
  }
  override onDispose() {
    roomSaw.push('dispose');
    disposed();
  }
}

const transport = new WebSocketTransport();
const gameServer = new Server({ transport, greet: false } as ConstructorParameters<typeof Server>[0]);
gameServer.define('arena', Arena);
await gameServer.listen(0, '127.0.0.1');
const { port } = (transport as unknown as { server: http.Server }).server.address() as net.AddressInfo;
result.serverIsOurs = (transport as unknown as { wss: unknown }).wss instanceof ours.WebSocketServer;

const sdk = new Client(`http://127.0.0.1:${port}`);
type Joined = Awaited<ReturnType<typeof sdk.joinOrCreate>>;
type PlayersState = { players: MapSchema<{ name: string; score: number }>; round: number };
const view = (room: Joined) => {
  const s = room.state as PlayersState;
  return [s.round, [...s.players.values()].map((p) => `${p.name}:${p.score}`).sort()];
};
/**
 * Resolves once `test` holds of the room's state: now, or at a state change. Until the room's first state has
 * arrived (a client just joined), its fields are undefined: the tests read them with `?.`.
 */
const stateWhere = (room: Joined, test: (s: PlayersState) => boolean) =>
  new Promise<void>((resolve) => {
    if (test(room.state as PlayersState)) return resolve();
    const check = (state: unknown) => {
      if (test(state as PlayersState)) {
        room.onStateChange.remove(check);
        resolve();
      }
    };
    room.onStateChange(check);
  });

const alice = await sdk.joinOrCreate('arena', { name: 'alice' });
result.clientIsOurs = (alice.connection.transport as unknown as { ws: unknown }).ws instanceof ours.WebSocket;
const bob = await sdk.joinOrCreate('arena', { name: 'bob' });
result.sameRoom = alice.roomId === bob.roomId;
await stateWhere(alice, (s) => s.players?.size === 2);
result.joined = view(alice);

// Messages change the state; both clients get the patch.
alice.send('score', 5);
bob.send('score', 3);
alice.send('score', 2);
const scored = (s: PlayersState) =>
  s.players?.get(alice.sessionId)?.score === 7 && s.players?.get(bob.sessionId)?.score === 3;
await Promise.all([stateWhere(alice, scored), stateWhere(bob, scored)]);
result.scored = [view(alice), view(bob)];

// A broadcast to everyone but the sender.
const shouted = new Promise((resolve) => bob.onMessage('shouted', resolve));
alice.onMessage('shouted', (m) => roomSaw.push(`alice got her own shout ${JSON.stringify(m)}`));
alice.send('shout', 'héllo ');
const got = (await shouted) as { from: string; text: string };
result.shouted = [got.from, got.text.length];

// Bob's socket is cut: the room holds his seat, the SDK reconnects by itself, his state is kept.
// The SDK reconnects only a room up for minUptime (5 s by default): not waited for here.
bob.reconnection.minUptime = 0;
bob.reconnection.minDelay = 0;
const bobDropped = new Promise<number>((resolve) => bob.onDrop((code) => resolve(code)));
const bobBack = new Promise<void>((resolve) => bob.onReconnect(() => resolve()));
const roomDropped = new Promise<void>((resolve) => {
  dropped = resolve;
});
bob.send('cut me');
result.bobDropped = await bobDropped;
await roomDropped;
await bobBack;
bob.send('score', 10);
await stateWhere(alice, (s) => s.players?.get(bob.sessionId)?.score === 13);
result.afterReconnect = view(alice);

// Both leave (consented): the codes the SDK reports, then the room disposes.
const aliceLeft = new Promise((resolve) => alice.onLeave((code) => resolve(code)));
const roomDisposed = new Promise<void>((resolve) => {
  disposed = resolve;
});
result.leave = [await alice.leave(), await aliceLeft, await bob.leave()];
// A client's leave() resolves when its socket closes: the room may see the leave, and dispose, a little later.
await roomDisposed;
result.roomSaw = [...roomSaw];
await gameServer.gracefullyShutdown(false);
result.afterShutdown = roomSaw.slice((result.roomSaw as string[]).length);
report(result);
