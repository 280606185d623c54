/**
 * xmpp.js (@xmpp/client 0.14), run by xmpp.test.ts with `ws` as installed or aliased to ws-stream/ws. Its WebSocket
 * transport (@xmpp/websocket, XMPP over WebSocket, RFC 7395) dials the global `WebSocket` (set here from ws: Node 20
 * has none) with the `xmpp` subprotocol, through the EventTarget API (add/removeEventListener, `event.data`,
 * `event.wasClean`, the `error` of an error event). Against a small XMPP server written here on the real ws (framed
 * `<open/>`, stream features, SASL PLAIN, resource binding, a message echo, iq queries both ways, `<close/>`), the
 * flow: a wrong password refused, a session bound, messages echoed (one of 1 MiB), an iq answered by the server and one
 * by the client, the server dropping the connection (the client reconnects, authenticates and binds again), and
 * `stop()`. Prints what the client's user and the server saw.
 */
import http from 'node:http';
import type net from 'node:net';
import { ours, queue, RealWebSocket, report } from './peer.js';

/** What this app uses of xmpp.js (which ships no types). */
interface Element {
  is(name: string): boolean;
  getChild(name: string): Element | undefined;
  getChildText(name: string): string | null;
}
interface Client {
  reconnect: { delay: number };
  iqCaller: { request(iq: Element): Promise<Element> };
  on(event: string, f: (...args: never[]) => void): void;
  start(): Promise<unknown>;
  stop(): Promise<unknown>;
  send(element: Element): Promise<void>;
}
const { client, xml } = (await import('@xmpp/client' as string)) as {
  client(options: object): Client;
  xml(name: string, attrs?: object, ...children: (Element | string)[]): Element;
};

(globalThis as Record<string, unknown>).WebSocket = (await import('ws')).WebSocket;

const FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';
const SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
const BIND = 'urn:ietf:params:xml:ns:xmpp-bind';
const features = (inner: string) =>
  `<stream:features xmlns:stream="http://etherx.jabber.org/streams">${inner}</stream:features>`;
/** The name and attributes of a frame's root element, and the text of a child element (frames are one element each). */
const root = (frame: string) => {
  const [, name = '', attrs = ''] = /^<([\w:]+)([^>]*?)\/?>/.exec(frame) ?? [];
  return { name, attrs: Object.fromEntries([...attrs.matchAll(/([\w:-]+)="([^"]*)"/g)].map((m) => [m[1], m[2]])) };
};
const text = (frame: string, element: string) =>
  new RegExp(`<${element}(?: [^>]*)?>([^<]*)</${element}>`).exec(frame)?.[1] ?? '';

/** The server: one domain, `localhost`; users authenticate with PLAIN; `echo@localhost` echoes messages. */
const serverSaw: string[] = [];
const serverClosed = queue<string>();
const sockets = queue<import('ws').WebSocket>();
const pongs = queue<string>();
const server = http.createServer();
const wss = new RealWebSocket.WebSocketServer({ server, path: '/xmpp-websocket' });
let connectionCount = 0;
wss.on('connection', (ws) => {
  const n = ++connectionCount;
  sockets.push(ws);
  serverSaw.push(`${n} connect protocol=${ws.protocol}`);
  let user = '';
  let boundJid = '';
  ws.on('message', (data: Buffer) => {
    const frame = String(data);
    const { name, attrs } = root(frame);
    serverSaw.push(`${n} ${name}${attrs.type ? ` ${attrs.type}` : ''}${name === 'auth' ? ` ${attrs.mechanism}` : ''}`);
    if (name === 'open') {
      ws.send(`<open xmlns="${FRAMING}" from="localhost" id="s${n}" version="1.0" xml:lang="en"/>`);
      ws.send(
        features(
          user ? `<bind xmlns="${BIND}"/>` : `<mechanisms xmlns="${SASL}"><mechanism>PLAIN</mechanism></mechanisms>`,
        ),
      );
    } else if (name === 'auth') {
      const [, name, password] = Buffer.from(text(frame, 'auth'), 'base64').toString().split('\0');
      if (password === 'secret') {
        user = name ?? '';
        ws.send(`<success xmlns="${SASL}"/>`);
      } else {
        ws.send(`<failure xmlns="${SASL}"><not-authorized/><text xml:lang="en">Wrong password</text></failure>`);
      }
    } else if (name === 'iq' && frame.includes(`xmlns="${BIND}"`)) {
      boundJid = `${user}@localhost/${text(frame, 'resource')}`;
      ws.send(
        `<iq xmlns="jabber:client" type="result" id="${attrs.id}"><bind xmlns="${BIND}"><jid>${boundJid}</jid></bind></iq>`,
      );
    } else if (name === 'iq' && attrs.type === 'get') {
      ws.send(
        `<iq xmlns="jabber:client" type="result" id="${attrs.id}" from="localhost" to="${boundJid}">` +
          '<query xmlns="jabber:iq:version"><name>fake-server</name><version>1.0</version></query></iq>',
      );
    } else if (name === 'iq' && attrs.type === 'result') {
      pongs.push(`${attrs.id} ${attrs.type}`);
    } else if (name === 'message') {
      const body = text(frame, 'body');
      ws.send(
        `<message xmlns="jabber:client" from="${attrs.to}" to="${boundJid}" type="chat"><body>echo: ${body}</body></message>`,
      );
    } else if (name === 'close') {
      ws.send(`<close xmlns="${FRAMING}"/>`);
    }
  });
  ws.on('close', (code) => serverClosed.push(`${n} ${code}`));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const service = `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}/xmpp-websocket`;

const result: Record<string, unknown> = {};

// A wrong password: the SASL failure rejects start(); stop() ends the session (and the reconnection).
const stranger = client({ service, domain: 'localhost', resource: 'phone', username: 'eve', password: 'guess' });
stranger.on('error', () => {});
result.refused = await stranger.start().then(
  () => 'online',
  (err: Error & { condition?: string }) => `${err.name} ${err.condition}: ${err.message}`,
);
await stranger.stop();
result.refusedClose = await serverClosed.next();
await sockets.next();

const xmpp = client({ service, domain: 'localhost', resource: 'laptop', username: 'ada', password: 'secret' });
xmpp.reconnect.delay = 0;
const statuses: string[] = [];
xmpp.on('status', (status: string) => statuses.push(status));
const errors: string[] = [];
xmpp.on('error', (err: Error) => errors.push(err.message));
const stanzas = queue<string>();
xmpp.on('stanza', (stanza: Element) => {
  if (stanza.is('message')) stanzas.push(stanza.getChildText('body') ?? '');
});
const online = queue<string>();
xmpp.on('online', (address: { toString(): string }) => online.push(address.toString()));
await xmpp.start();
result.online = await online.next();
const first = await sockets.next();
result.socketIsOurs = (xmpp as unknown as { socket: { socket: unknown } }).socket.socket instanceof ours.WebSocket;

await xmpp.send(xml('message', { to: 'echo@localhost', type: 'chat' }, xml('body', {}, 'héllo 👋')));
result.echo = await stanzas.next();
await xmpp.send(xml('message', { to: 'echo@localhost', type: 'chat' }, xml('body', {}, 'x'.repeat(1024 * 1024))));
result.largeEcho = (await stanzas.next()).length;

// An iq to the server, and one from the server (a ping answered by the client's iq callee).
const version = await xmpp.iqCaller.request(
  xml('iq', { type: 'get', to: 'localhost' }, xml('query', { xmlns: 'jabber:iq:version' })),
);
result.version = [version.getChild('query')?.getChildText('name'), version.getChild('query')?.getChildText('version')];
first.send(`<iq xmlns="jabber:client" type="get" id="ping1" from="localhost"><ping xmlns="urn:xmpp:ping"/></iq>`);
result.pingAnswered = await pongs.next();

// The server drops the connection: the client reconnects, authenticates and binds again.
first.terminate();
result.dropped = await serverClosed.next();
result.onlineAgain = await online.next();
await xmpp.send(xml('message', { to: 'echo@localhost', type: 'chat' }, xml('body', {}, 'back')));
result.echoAgain = await stanzas.next();

// stop(): <close/> each way, then the client closes the socket.
await xmpp.stop();
result.stopped = await serverClosed.next();
result.statuses = statuses;
result.errors = errors;
result.server = serverSaw;
wss.close();
await new Promise((resolve) => server.close(resolve));
report(result);
