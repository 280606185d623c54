/**
 * home-assistant-js-websocket 9, run by home-assistant.test.ts with `ws` as installed or aliased to ws-stream/ws.
 * The package dials the global `WebSocket` (Node 20 has none; its docs have Node users set it from ws) and uses the
 * EventTarget half of it alone: add/removeEventListener, `event.data`, the instance's `OPEN`. Against a small fake
 * Home Assistant written here on the real ws (the auth phase, `supported_features`, coalesced frames of several
 * messages, `subscribe_entities` with its compressed states, services, ping), the flow: an upgrade refused (the
 * package's ERR_CANNOT_CONNECT), a wrong token (ERR_INVALID_AUTH), entities subscribed and changed by a service call,
 * a failed call, a dropped connection that the package reconnects and resubscribes, and `close()`. Prints what the
 * package's user and the server saw.
 */
import http from 'node:http';
import type net from 'node:net';
import {
  callService,
  createConnection,
  createLongLivedTokenAuth,
  getConfig,
  type HassEntities,
  subscribeEntities,
} from 'home-assistant-js-websocket';
import { ours, queue, RealWebSocket, report } from './peer.js';

(globalThis as Record<string, unknown>).WebSocket = (await import('ws')).WebSocket;

/** The fake Home Assistant: two entities, in the compressed form of `subscribe_entities`. */
const states: Record<string, { s: string; a: Record<string, unknown>; c: string; lc: number }> = {
  'light.kitchen': { s: 'off', a: { friendly_name: 'Kitchen' }, c: 'ctx0', lc: 1_700_000_000 },
  'sensor.temperature': { s: '21.5', a: { unit_of_measurement: '°C' }, c: 'ctx0', lc: 1_700_000_000 },
};
const serverSaw: string[] = [];
const serverClosed = queue<string>();
const sockets = new Set<import('ws').WebSocket>();
const server = http.createServer();
const wss = new RealWebSocket.WebSocketServer({ server, path: '/api/websocket' });
wss.on('connection', (ws) => {
  sockets.add(ws);
  const subscriptions = new Set<number>();
  const send = (message: object) => ws.send(JSON.stringify(message));
  const result = (id: number, value: unknown = null) => ({ id, type: 'result', success: true, result: value });
  send({ type: 'auth_required', ha_version: '2024.10.1' });
  ws.on('message', (data) => {
    const m = JSON.parse(String(data)) as {
      id: number;
      type: string;
      access_token?: string;
      features?: object;
      domain?: string;
      service?: string;
      service_data?: { entity_id: string; brightness?: number };
    };
    serverSaw.push(
      m.type === 'auth'
        ? `auth ${m.access_token}`
        : m.type === 'call_service'
          ? `${m.id} call_service ${m.domain}.${m.service}`
          : `${m.id} ${m.type}${m.features ? ` ${JSON.stringify(m.features)}` : ''}`,
    );
    if (m.type === 'auth') {
      send(m.access_token === 'llat-good' ? { type: 'auth_ok', ha_version: '2024.10.1' } : { type: 'auth_invalid' });
    } else if (m.type === 'subscribe_entities') {
      subscriptions.add(m.id);
      // Coalesced (the client asked for it): the result and the first event in one frame.
      ws.send(JSON.stringify([result(m.id), { id: m.id, type: 'event', event: { a: states } }]));
    } else if (m.type === 'call_service') {
      const entity = m.service_data?.entity_id ?? '';
      const state = states[entity];
      if (m.domain !== 'light' || state === undefined) {
        send({
          id: m.id,
          type: 'result',
          success: false,
          error: { code: 'service_not_found', message: `Service ${m.domain}.${m.service} not found.` },
        });
        return;
      }
      state.s = m.service === 'turn_on' ? 'on' : 'off';
      state.a = { ...state.a, brightness: m.service_data?.brightness ?? null };
      state.c = `ctx${m.id}`;
      state.lc++;
      send(result(m.id, { context: { id: state.c } }));
      for (const sub of subscriptions) {
        send({
          id: sub,
          type: 'event',
          event: { c: { [entity]: { '+': { s: state.s, a: state.a, c: state.c, lc: state.lc } } } },
        });
      }
    } else if (m.type === 'get_config') {
      send(result(m.id, { location_name: 'Home', version: '2024.10.1', unit_system: { temperature: '°C' } }));
    } else if (m.type === 'ping') {
      send({ id: m.id, type: 'pong' });
    } else {
      send(result(m.id));
    }
  });
  ws.on('close', (code, reason) => {
    sockets.delete(ws);
    serverClosed.push(`${code}${reason.length ? ` ${reason}` : ''}`);
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const hassUrl = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
const result: Record<string, unknown> = {};

// An upgrade refused (no WebSocket endpoint at that path): 'error', then the package's ERR_CANNOT_CONNECT.
result.refused = await createConnection({ auth: createLongLivedTokenAuth(`${hassUrl}/nowhere`, 'llat-good') }).then(
  () => 'connected',
  (err: unknown) => err,
);
// A wrong token: auth_invalid, the client closes, ERR_INVALID_AUTH.
result.invalidAuth = await createConnection({ auth: createLongLivedTokenAuth(hassUrl, 'llat-bad') }).then(
  () => 'connected',
  (err: unknown) => err,
);
result.invalidAuthClose = await serverClosed.next();

const conn = await createConnection({ auth: createLongLivedTokenAuth(hassUrl, 'llat-good') });
result.socketIsOurs = (conn.socket as unknown) instanceof ours.WebSocket;
result.connected = [conn.connected, conn.haVersion];
const events: string[] = [];
conn.addEventListener('disconnected', () => events.push('disconnected'));
conn.addEventListener('ready', () => events.push('ready'));

// Entities: the first state in one coalesced frame, then each change as a delta.
const entities = queue<HassEntities>();
// Never unsubscribed: the package tears a collection down 5 s after its last subscriber leaves.
subscribeEntities(conn, (e) => entities.push(e));
const summary = (e: HassEntities) =>
  Object.values(e).map((s) => `${s.entity_id}=${s.state} ${JSON.stringify(s.attributes)} ${s.last_changed}`);
result.initial = summary(await entities.next());
result.config = await getConfig(conn);
result.turnOn = await callService(conn, 'light', 'turn_on', { entity_id: 'light.kitchen', brightness: 200 });
result.afterTurnOn = summary(await entities.next());
result.failedCall = await callService(conn, 'climate', 'set_temperature', { entity_id: 'climate.none' }).then(
  () => 'succeeded',
  (err: unknown) => err,
);
result.ping = await conn.ping().then(() => 'pong');

// The server drops the connection: the package reconnects at once, authenticates, and subscribes again.
const reconnected = new Promise<void>((resolve) => conn.addEventListener('ready', () => resolve()));
for (const ws of sockets) ws.terminate();
result.dropClose = await serverClosed.next();
await reconnected;
result.afterReconnect = summary(await entities.next());
await callService(conn, 'light', 'turn_off', { entity_id: 'light.kitchen' });
result.afterTurnOff = summary(await entities.next());
result.events = events;

conn.close();
result.closeOnServer = await serverClosed.next();
result.connectedAfterClose = conn.connected;
result.server = serverSaw;
wss.close();
await new Promise((resolve) => server.close(resolve));
report(result);
