/**
 * tmi.js 1.8 (Twitch chat over IRC-on-WebSocket; it requires `ws` when there is no global WebSocket, as on Node 20),
 * run by tmi.test.ts with `ws` as installed or aliased to ws-stream/ws, against a small fake Twitch chat server
 * written here on the real ws (the 'irc' subprotocol, several IRC lines in one frame, IRCv3 tags). tmi.js makes
 * `new WebSocket(url, 'irc', { agent })`, uses the `on*` handlers and `event.data`, and checks `readyState === 1`
 * before every send. The flow: a login through an http.Agent of the app's own (its `createConnection` counted), the
 * welcome lines, a channel joined (USERSTATE, ROOMSTATE), a chat message sent and one received with tags and an
 * emote, an action, a whisper, the server's PING answered with PONG, the client's PING answered, `disconnect()`, a
 * wrong password (the server's NOTICE and tmi.js closing), an upgrade refused with 503, and the server closing a
 * connection. Prints what the client and the server saw.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type WsDefault from 'ws';
import { aliased, CountingAgent, ours, queue, RealWebSocket, report } from './peer.js';

const require = createRequire(import.meta.url);

/** What this app uses of tmi.js. */
interface TmiClient {
  ws: unknown;
  on(event: string, f: (...args: never[]) => void): void;
  once(event: string, f: (...args: never[]) => void): void;
  connect(): Promise<[string, number]>;
  disconnect(): Promise<[string, number]>;
  join(channel: string): Promise<unknown>;
  say(channel: string, message: string): Promise<unknown>;
  action(channel: string, message: string): Promise<unknown>;
  ping(): Promise<unknown>;
  readyState(): string;
  getUsername(): string;
}
type TmiOptions = Record<string, unknown>;
const tmi = require('tmi.js') as { Client: new (options: TmiOptions) => TmiClient };

/** The fake chat server: answers each IRC command as Twitch does, in as few frames. What each connection saw. */
const serverSaw: string[][] = [];
const serverSockets: WsDefault[] = [];
const serverClosed: Promise<unknown>[] = [];
let offered = '';
const httpServer = http.createServer();
const wss = new RealWebSocket.WebSocketServer({
  server: httpServer,
  handleProtocols: (protocols: Set<string>) => {
    offered = [...protocols].join(',');
    return protocols.has('irc') ? 'irc' : false;
  },
});
wss.on('connection', (ws) => {
  serverSockets.push(ws);
  const saw = [`protocols ${offered} chose ${ws.protocol}`];
  serverSaw.push(saw);
  serverClosed.push(new Promise((resolve) => ws.once('close', resolve)));
  let nick = '';
  let password = '';
  const send = (...lines: string[]) => ws.send(lines.map((line) => `${line}\r\n`).join(''));
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    for (const line of String(data).split('\r\n')) {
      if (!line) continue;
      saw.push(`${isBinary ? 'binary' : 'text'} ${line.startsWith('PASS') ? 'PASS ***' : line}`);
      const [command, ...rest] = line.split(' ');
      const arg = rest.join(' ');
      if (command === 'CAP') send(`:tmi.twitch.tv CAP * ACK ${arg.slice(4)}`);
      else if (command === 'PASS') password = arg;
      else if (command === 'NICK') {
        nick = arg;
        if (password !== 'oauth:good') return send(':tmi.twitch.tv NOTICE * :Login authentication failed');
        send(
          `:tmi.twitch.tv 001 ${nick} :Welcome, GLHF!`,
          `:tmi.twitch.tv 002 ${nick} :Your host is tmi.twitch.tv`,
          `:tmi.twitch.tv 003 ${nick} :This server is rather new`,
          `:tmi.twitch.tv 004 ${nick} :-`,
          `:tmi.twitch.tv 375 ${nick} :-`,
          `:tmi.twitch.tv 372 ${nick} :You are in a maze of twisty passages, all alike.`,
          `:tmi.twitch.tv 376 ${nick} :>`,
        );
      } else if (command === 'JOIN') {
        send(
          `:${nick}!${nick}@${nick}.tmi.twitch.tv JOIN ${arg}`,
          `@badge-info=;badges=;color=;display-name=${nick};mod=0;subscriber=0;user-type= :tmi.twitch.tv USERSTATE ${arg}`,
          `@emote-only=0;followers-only=-1;r9k=0;room-id=7;slow=0;subs-only=0 :tmi.twitch.tv ROOMSTATE ${arg}`,
        );
      } else if (command === 'PRIVMSG') {
        const [channel, ...text] = arg.split(' ');
        const said = text.join(' ').slice(1);
        if (said === 'ping me') return send('PING :tmi.twitch.tv');
        send(
          `@badges=moderator/1;color=#FF0000;display-name=Bob;emotes=25:10-14;id=m1;mod=1;room-id=7;user-id=2 :bob!bob@bob.tmi.twitch.tv PRIVMSG ${channel} :you said: ${said}`,
        );
        if (said === 'whisper') {
          send(`@display-name=Bob;user-id=2 :bob!bob@bob.tmi.twitch.tv WHISPER ${nick} :psst ${'x'.repeat(4000)}`);
        }
      } else if (command === 'PING') send('PONG :tmi.twitch.tv');
    }
  });
  ws.on('close', (code: number) => saw.push(`close ${code}`));
});
await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
const { port } = httpServer.address() as AddressInfo;

const agent = new CountingAgent();

const logged: string[] = [];
const logger = {
  info: () => {},
  warn: (m: string) => logged.push(`warn ${m}`),
  error: (m: string) => logged.push(`error ${m}`),
};
const makeClient = (password: string, server = '127.0.0.1', serverPort = port) =>
  new tmi.Client({
    options: { skipUpdatingEmotesets: true },
    connection: { server, port: serverPort, secure: false, reconnect: false, agent },
    identity: { username: 'ada', password },
    logger,
  });

const result: Record<string, unknown> = { aliased: aliased(require.resolve('tmi.js')) };
const client = makeClient('oauth:good');
const events: string[] = [];
const messages = queue<string>();
client.on('connecting', (() => events.push('connecting')) as never);
client.on('logon', (() => events.push('logon')) as never);
client.on('connected', (() => events.push('connected')) as never);
client.on('join', ((channel: string, user: string, self: boolean) =>
  events.push(`join ${channel} ${user} ${self}`)) as never);
client.on('roomstate', ((channel: string, state: { 'room-id': string }) =>
  events.push(`roomstate ${channel} ${state['room-id']}`)) as never);
client.on('message', ((channel: string, tags: Record<string, unknown>, message: string, self: boolean) =>
  messages.push(
    JSON.stringify([
      channel,
      tags['display-name'] ?? null,
      tags['message-type'],
      tags.emotes ?? null,
      message.length > 100 ? message.length : message,
      self,
    ]),
  )) as never);
client.on('whisper', ((from: string, _tags: unknown, message: string) =>
  messages.push(`whisper ${from} ${message.length}`)) as never);
client.on('ping', (() => messages.push('ping')) as never);
client.on('pong', ((latency: number) => messages.push(`pong ${typeof latency}`)) as never);

result.connect = await client.connect();
result.socketIsOurs = client.ws instanceof ours.WebSocket;
result.state = [client.readyState(), client.getUsername()];
const joined = new Promise<void>((resolve) => client.once('roomstate', resolve as never));
client.join('#lobby').catch(() => {});
await joined;

await client.say('#lobby', 'héllo Kappa');
const chat = [await messages.next(), await messages.next()];
await client.action('#lobby', 'waves');
chat.push(await messages.next(), await messages.next());
await client.say('#lobby', 'whisper');
chat.push(await messages.next(), await messages.next(), await messages.next(), await messages.next());
await client.say('#lobby', 'ping me');
chat.push(await messages.next(), await messages.next());
client.ping().catch(() => {});
chat.push(await messages.next());
result.chat = chat;

const disconnected = new Promise<string>((resolve) => client.once('disconnected', resolve as never));
result.disconnect = await client.disconnect();
result.disconnected = [await disconnected, client.readyState()];
result.events = events;

// A wrong password: the server's NOTICE; tmi.js closes the socket and rejects connect().
const wrong = makeClient('oauth:bad');
result.wrongPassword = await wrong.connect().then(
  () => 'connected',
  (reason: string) => reason,
);

// A server that refuses the upgrade (no 'upgrade' listener: Node answers the request).
const refusing = http.createServer((_req, res) => res.writeHead(503).end('busy'));
await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
const refused = makeClient('oauth:good', '127.0.0.1', (refusing.address() as AddressInfo).port);
const refusedEvents: string[] = [];
refused.on('disconnected', ((reason: string) => refusedEvents.push(reason)) as never);
result.refused = await refused.connect().then(
  () => 'connected',
  (reason: string) => reason,
);
refusing.close();

// The server closes a live connection.
const dropped = makeClient('oauth:good');
await dropped.connect();
const droppedReason = new Promise<string>((resolve) => dropped.once('disconnected', resolve as never));
serverSockets.at(-1)?.close(1001, 'restart');
result.serverClosed = [await droppedReason, dropped.readyState()];
result.refusedEvents = refusedEvents;

result.agentConnections = agent.connections;
await Promise.all(serverClosed);
result.serverSaw = serverSaw;
result.logged = logged;
wss.close();
httpServer.close();
report(result);
