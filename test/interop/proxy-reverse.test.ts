/**
 * ws-stream servers behind real reverse proxies: nginx (`proxy_http_version 1.1` with the
 * `Upgrade`/`Connection` headers) and HAProxy (http mode), each plain and with TLS terminated at
 * the proxy (the fixture's certificate), in front of `ws-stream serve` (echo), a ws-stream/ws
 * `WebSocketServer` and `serve --pubsub`; clients: ws-stream's `connect()`, ws-stream/ws's
 * `WebSocket` and the real `ws`. Both ends' views are checked: subprotocol and permessage-deflate
 * as negotiated end to end, messages both ways (a 1 MiB binary one too), pings and pongs, close
 * codes and reasons in both directions. Also: `connect({ http2: true })` through HAProxy's HTTP/2
 * frontend (RFC 8441, converted to HTTP/1.1 upgrades); nginx with a short `proxy_read_timeout`
 * against `serve --idle-timeout`'s keep-alive pings; and two common nginx misconfigurations.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocketServer } from 'ws';
import { type ClientHandshakeError, type ConnectOptions, connect, isWebSocketError } from '../../src/index.js';
import {
  bigPayload,
  CA,
  type ClientKind,
  assertEndToEnd,
  echoExchange,
  freePorts,
  openClient,
  type ProxyProcess,
  ServeProcess,
  startCompatServer,
  startHaproxy,
  startNginx,
} from './proxy-support.js';

const SEED = 0x5eed_0001;
const big = bigPayload(SEED);
const kinds: ClientKind[] = ['connect', 'compat', 'ws'];
type Upstream = 'serve' | 'compat' | 'pubsub';
const upstreams: Upstream[] = ['serve', 'compat', 'pubsub'];
const fronts = [
  { proxy: 'nginx', tls: false },
  { proxy: 'nginx', tls: true },
  { proxy: 'haproxy', tls: false },
  { proxy: 'haproxy', tls: true },
] as const;

describe('behind nginx and HAProxy', () => {
  let echo: ServeProcess;
  let pubsub: ServeProcess;
  let compat: Awaited<ReturnType<typeof startCompatServer>>;
  const proxies: ProxyProcess[] = [];
  /** The proxy's port for each front and upstream. */
  const portOf = new Map<string, number>();
  const key = (proxy: string, tls: boolean, up: Upstream): string => `${proxy} ${tls} ${up}`;
  const urlOf = (proxy: string, tls: boolean, up: Upstream, path = '/'): string =>
    `${tls ? 'wss' : 'ws'}://${tls ? 'localhost' : '127.0.0.1'}:${portOf.get(key(proxy, tls, up))}${path}`;

  before(async () => {
    echo = await ServeProcess.start(['--deflate', '--protocols', 'chat,superchat', '--log']);
    pubsub = await ServeProcess.start(['--pubsub', '--deflate']);
    compat = await startCompatServer();
    const upstreamPort = { serve: echo.port, compat: compat.port, pubsub: pubsub.port };
    const ports = await freePorts(fronts.length * upstreams.length);
    for (const f of fronts) for (const up of upstreams) portOf.set(key(f.proxy, f.tls, up), ports.pop()!);
    const sites = (proxy: string) =>
      fronts
        .filter((f) => f.proxy === proxy)
        .flatMap((f) =>
          upstreams.map((up) => ({ port: portOf.get(key(proxy, f.tls, up))!, upstream: upstreamPort[up], tls: f.tls })),
        );
    proxies.push(await startNginx(sites('nginx')));
    const [h2Compat, h2Serve] = (await freePorts(2)) as [number, number];
    portOf.set('h2 compat', h2Compat);
    portOf.set('h2 serve', h2Serve);
    proxies.push(
      await startHaproxy([
        ...sites('haproxy'),
        { port: h2Compat, upstream: compat.port, tls: true, h2: true },
        { port: h2Serve, upstream: echo.port, tls: true, h2: true },
      ]),
    );
  });
  after(async () => {
    for (const p of proxies) await p.stop();
    await compat?.close();
    await echo?.stop();
    await pubsub?.stop();
  });

  it("connect({ http2: true }) through HAProxy's HTTP/2 frontend (RFC 8441 extended CONNECT) to HTTP/1.1 upstreams", async () => {
    const h2 = (up: 'compat' | 'serve') => ({
      ca: CA,
      open: (options: ConnectOptions) =>
        connect(`wss://localhost:${portOf.get(`h2 ${up}`)}/`, { ...options, http2: true }),
    });
    const nextSide = compat.next();
    const c = await openClient('connect', '', h2('compat'));
    const side = await nextSide;
    await assertEndToEnd(c, side, big);
    assert.equal(Buffer.compare(side.messages[1] as Buffer, big), 0);

    // serve sees an HTTP/1.1 upgrade (HAProxy converts), with permessage-deflate agreed end to end.
    const opened = (await echo.lines(/websocket open over HTTP\/1\.1[^\n]*/, 0)).length;
    const c2 = await openClient('connect', '', h2('serve'));
    assert.equal(c2.protocol, 'chat');
    assert.match(c2.extensions, /^permessage-deflate/);
    const lines = await echo.lines(/websocket open over HTTP\/1\.1[^\n]*/, opened + 1);
    assert.match(lines[opened]![0], /with permessage-deflate/);
    assert.deepEqual(await echoExchange(c2, big), { code: 4001, reason: 'client says bye' });
  });

  for (const { proxy, tls } of fronts) {
    const front = `${proxy}${tls ? ' (TLS terminated there)' : ''}`;
    for (const kind of kinds) {
      it(`${front}: ${kind} client ↔ ws-stream serve: subprotocol, deflate, 1 MiB both ways, ping, close`, async () => {
        const opened = (await echo.lines(/websocket open over HTTP\/1\.1[^\n]*/, 0)).length;
        const c = await openClient(kind, urlOf(proxy, tls, 'serve'), { ca: CA });
        assert.equal(c.protocol, 'chat', 'the server chose chat, through the proxy');
        assert.match(c.extensions, /^permessage-deflate/);
        // The server's own line for this connection: it negotiated permessage-deflate too.
        const lines = await echo.lines(/websocket open over HTTP\/1\.1[^\n]*/, opened + 1);
        assert.match(lines[opened]![0], /with permessage-deflate/);
        // The echo server answers the client's close with the same code and reason.
        assert.deepEqual(await echoExchange(c, big), { code: 4001, reason: 'client says bye' });
      });

      it(`${front}: ${kind} client ↔ ws-stream/ws WebSocketServer: both ends' views, closes both ways`, async () => {
        const nextSide = compat.next();
        const c = await openClient(kind, urlOf(proxy, tls, 'compat'), { ca: CA });
        const side = await nextSide;
        assert.equal(side.protocol, 'chat');
        assert.equal(c.protocol, 'chat');
        assert.match(side.extensions, /^permessage-deflate/);
        assert.match(c.extensions, /^permessage-deflate/);
        await c.untilPings(1);
        assert.deepEqual(c.pings, ['server-ping'], "the server's ping reached the client");
        assert.deepEqual(await echoExchange(c, big), { code: 4001, reason: 'client says bye' });
        assert.deepEqual(await side.closed, { code: 4001, reason: 'client says bye' });
        assert.equal(side.messages.length, 2);
        assert.equal(side.messages[0], 'hello through the proxy');
        assert.equal(Buffer.compare(side.messages[1] as Buffer, big), 0, 'the server got the 1 MiB message whole');
        assert.deepEqual(side.pings, ['client-ping']);
        assert.deepEqual(side.pongs, ['server-ping'], "the client's automatic pong reached the server");

        // The server closes: its code and reason reach the client, the client's answer the server.
        const nextSide2 = compat.next();
        const c2 = await openClient(kind, urlOf(proxy, tls, 'compat'), { ca: CA });
        const side2 = await nextSide2;
        await c2.send('close-me');
        assert.deepEqual(await c2.closed, { code: 4002, reason: 'server says bye' });
        assert.deepEqual(await side2.closed, { code: 4002, reason: 'server says bye' });
      });

      it(`${front}: ${kind} client ↔ serve --pubsub: subscribe, publish, delivery`, async () => {
        const other: ClientKind = kind === 'ws' ? 'connect' : 'ws';
        const sub = await openClient(kind, urlOf(proxy, tls, 'pubsub'), { ca: CA, protocols: [] });
        const pub = await openClient(other, urlOf(proxy, tls, 'pubsub'), { ca: CA, protocols: [] });
        assert.match(sub.extensions, /^permessage-deflate/);
        const topic = `proxied-${proxy}-${tls}-${kind}`;
        await sub.send(JSON.stringify({ op: 'subscribe', topic }));
        assert.equal(JSON.parse((await sub.receive()) as string).op, 'subscribed');
        const data = 'x'.repeat(100_000);
        await pub.send(JSON.stringify({ op: 'publish', topic, data }));
        const got = JSON.parse((await sub.receive()) as string);
        assert.deepEqual({ op: got.op, topic: got.topic, data: got.data }, { op: 'message', topic, data });
        pub.close(1000, 'publisher done');
        sub.close(1000, 'subscriber done');
        assert.deepEqual(await pub.closed, { code: 1000, reason: 'publisher done' });
        assert.deepEqual(await sub.closed, { code: 1000, reason: 'subscriber done' });
      });
    }
  }
});

describe('nginx configured for a short proxy_read_timeout, and misconfigured', () => {
  let kept: ServeProcess;
  let plain: ServeProcess;
  let nginx: ProxyProcess;
  let compat: Awaited<ReturnType<typeof startCompatServer>>;
  let real: WebSocketServer;
  const port = { kept: 0, plain: 0, misconfigured: 0, http10serve: 0, http10compat: 0, http10ws: 0 };
  before(async () => {
    kept = await ServeProcess.start(['--idle-timeout', '1']);
    plain = await ServeProcess.start([]);
    compat = await startCompatServer();
    real = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    real.on('connection', (ws) => ws.on('message', (m, binary) => ws.send(m, { binary })));
    await once(real, 'listening');
    const ports = await freePorts(Object.keys(port).length);
    for (const k of Object.keys(port) as (keyof typeof port)[]) port[k] = ports.pop()!;
    nginx = await startNginx([
      { port: port.kept, upstream: kept.port, readTimeout: '1500ms' },
      { port: port.plain, upstream: plain.port, readTimeout: '1500ms' },
      { port: port.misconfigured, upstream: plain.port, connectionHeader: false },
      { port: port.http10serve, upstream: plain.port, httpVersion: '1.0' },
      { port: port.http10compat, upstream: compat.port, httpVersion: '1.0' },
      { port: port.http10ws, upstream: (real.address() as AddressInfo).port, httpVersion: '1.0' },
    ]);
  });
  after(async () => {
    await nginx?.stop();
    await compat?.close();
    await new Promise((resolve) => real?.close(resolve));
    await kept?.stop();
    await plain?.stop();
  });

  it("serve --idle-timeout's keep-alive pings keep a connection open past nginx's proxy_read_timeout", async () => {
    // Opened first, so it is the older of the two when nginx cuts the other.
    const alive = await openClient('connect', `ws://127.0.0.1:${port.kept}/`, { protocols: [] });
    const silent = await openClient('connect', `ws://127.0.0.1:${port.plain}/`, { protocols: [] });
    // Without pings from the server, nginx ends the tunnel after 1.5 s: no close frame (1006).
    assert.deepEqual(await silent.closed, { code: 1006, reason: '' });
    assert.match(nginx.output(), /upstream timed out/, 'nginx cut it for its proxy_read_timeout');
    // The older connection got pings through the proxy, and two more after the other was cut.
    await alive.untilPings(alive.pings.length + 2);
    await alive.send('still here');
    assert.equal(await alive.receive(), 'still here');
    alive.close(1000, 'done');
    assert.deepEqual(await alive.closed, { code: 1000, reason: 'done' });
  });

  it('without the Connection header, the refusal reaches each client as a clear error; nothing crashes', async () => {
    const url = `ws://127.0.0.1:${port.misconfigured}/`;
    // ws-stream's connect(): ERR_WS_UPGRADE_DECLINED with the server's status and reason.
    const err = await connect(url).then(
      () => assert.fail('connected'),
      (e: ClientHandshakeError) => e,
    );
    assert.ok(isWebSocketError(err));
    assert.equal(err.code, 'ERR_WS_UPGRADE_DECLINED');
    assert.equal(err.response?.status, 400);
    assert.match(err.response!.body.toString(), /Connection/i);
    // ws-stream/ws and ws: an 'error' with the status, as ws reports it.
    for (const kind of ['compat', 'ws'] as const) {
      const e = await openClient(kind, url, { protocols: [] }).then(
        () => assert.fail(`${kind} connected`),
        (e: Error) => e,
      );
      assert.equal(e.message, 'Unexpected server response: 400', kind);
    }
    // The server printed why, for each of the three (nginx sent `Connection: close`).
    const refused = await plain.lines(/handshake refused: ERR_WS_NO_CONNECTION_UPGRADE\b/, 3);
    assert.equal(refused.length, 3);
    // The server and nginx still serve a correct route.
    const ok = await openClient('connect', `ws://127.0.0.1:${port.plain}/`, { protocols: [] });
    await ok.send('after the refusals');
    assert.equal(await ok.receive(), 'after the refusals');
    ok.close(1000, '');
    assert.equal((await ok.closed).code, 1000);
  });

  it('nginx left at proxy_http_version 1.0: ws-stream serve refuses the HTTP/1.0 upgrade clearly (400); ws and ws-stream/ws take it', async () => {
    // ws-stream serve: 400 ERR_WS_BAD_HTTP_VERSION, printed by the server, and the status at the client.
    const err = await connect(`ws://127.0.0.1:${port.http10serve}/`).then(
      () => assert.fail('connected'),
      (e: ClientHandshakeError) => e,
    );
    assert.equal(err.code, 'ERR_WS_UPGRADE_DECLINED');
    assert.equal(err.response?.status, 400);
    assert.equal(err.response!.body.toString(), 'HTTP version must be 1.1 or a later 1.x\n');
    const refused = await plain.lines(/handshake refused: ERR_WS_BAD_HTTP_VERSION\b/);
    assert.equal(refused.length, 1);
    // ws-stream/ws's WebSocketServer and the real ws server behind the same configuration open (nginx tunnels
    // their 101): the drop-in takes what ws takes (doc/ws-compat.md, "Stricter handshakes").
    const seen = compat.seen.length;
    for (const upstream of [port.http10compat, port.http10ws]) {
      const c = await openClient('ws', `ws://127.0.0.1:${upstream}/`, { protocols: [] });
      await c.send('over HTTP/1.0 to the upstream');
      assert.equal(await c.receive(), 'over HTTP/1.0 to the upstream');
      c.close(1000, '');
      assert.equal((await c.closed).code, 1000);
    }
    assert.equal(compat.seen.length, seen + 1);
  });
});
