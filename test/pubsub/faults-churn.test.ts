/**
 * `ws-stream serve --pubsub --deflate` (a child process) while clients come and go in hostile ways,
 * from a printed seed (SEED=… replays): subscribers subscribe, unsubscribe, close, reset, reset in
 * the middle of a frame they were sending, and one subscribes and never reads (past its backlog
 * cap: the slow-subscriber policy meets it); meanwhile three
 * publishers publish. Steady subscribers (compressed and not) that stay subscribed throughout get
 * every message of their topic, each publisher's in the order it published them, with contiguous
 * offsets; the server never crashes, still serves, releases every descriptor, and exits 0 on SIGTERM.
 * load-pubsub.test.ts churns without deflate and with clean clients; this adds the hostile exits.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { it } from 'node:test';
import WebSocket from 'ws';
import { eventually, openClients, startProbed } from '../cli/load-support.js';
import { requestHead, text } from '../support/frames.js';
import { random } from '../support/random.js';

const TOPICS = 5;
const PUBLISHERS = 3;
const PER_PUBLISHER = 2000;
/** Padding in each message: the subscriber that never reads goes over its 4 MiB backlog cap. */
const PAD = 'x'.repeat(4096);

interface Msg {
  op: string;
  topic?: string;
  offset?: number;
  data?: { p: number; n: number; pad: string };
  code?: string;
}

/** A subscriber that stays: every message of its topic, checked as it comes. */
class Steady {
  next = -1;
  readonly seen = new Map<number, number>(); // publisher → last n
  readonly problems: string[] = [];
  count = 0;
  private readonly waiters: (() => void)[] = [];
  constructor(
    readonly ws: WebSocket,
    readonly topic: string,
  ) {
    ws.on('message', (d) => this.receive(JSON.parse(String(d)) as Msg));
    // A steady one closed (1008 ERR_WS_SLOW_SUBSCRIBER if its reader fell 4 MiB behind) fails the
    // test with its code at once, rather than leaving `until` waiting for the test's timeout.
    ws.on('close', (code, reason) => {
      this.problems.push(`${this.topic}: closed ${code} ${String(reason)}`);
      for (const w of this.waiters.splice(0)) w();
    });
  }
  private receive(m: Msg): void {
    if (m.op === 'subscribed') this.next = m.offset! + 1;
    else if (m.op === 'message' && m.topic === this.topic) {
      if (m.offset !== this.next) this.problems.push(`${this.topic}: offset ${m.offset}, expected ${this.next}`);
      this.next = m.offset! + 1;
      const { p, n, pad } = m.data!;
      if (pad !== PAD) this.problems.push(`${this.topic}: message ${p}/${n} altered`);
      const last = this.seen.get(p) ?? -1;
      if (n <= last) this.problems.push(`${this.topic}: publisher ${p} message ${n} after ${last}`);
      this.seen.set(p, n);
      this.count++;
    } else this.problems.push(`unexpected ${JSON.stringify(m)}`);
    for (const w of this.waiters.splice(0)) w();
  }
  async until(f: () => boolean): Promise<void> {
    while (!f()) await new Promise<void>((r) => this.waiters.push(r));
  }
}

/** A raw client: upgraded, subscribed to `topic`; returns its socket. */
async function rawSubscriber(port: number, topic: string): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  await once(s, 'connect');
  s.write(requestHead({ Host: `127.0.0.1:${port}` }));
  let head = '';
  while (!head.includes('\r\n\r\n')) head += String((await once(s, 'data'))[0]);
  assert.match(head, /^HTTP\/1\.1 101 /);
  s.write(text(JSON.stringify({ op: 'subscribe', topic })));
  return s;
}

it('serve --pubsub --deflate: hostile churn beside steady subscribers, who get every message in order', {
  timeout: 180_000,
}, async () => {
  const seed = Number(process.env.SEED ?? Date.now() % 100000);
  console.log(`seed ${seed} (SEED=${seed} replays it)`);
  const rnd = random(seed);
  const server = await startProbed(['--pubsub', '--deflate', '--history', '0']);
  try {
    const fds0 = server.fds();
    // Steady subscribers: two per topic, one offering permessage-deflate, one not.
    const steady: Steady[] = [];
    for (let t = 0; t < TOPICS; t++) {
      for (const perMessageDeflate of [true, false]) {
        const [ws] = await openClients(server.url, 1, 1, { perMessageDeflate });
        const s = new Steady(ws!, `t${t}`);
        ws!.send(JSON.stringify({ op: 'subscribe', topic: `t${t}` }));
        await s.until(() => s.next >= 0);
        steady.push(s);
      }
    }
    // One that subscribes to every topic and never reads a byte.
    const deaf: net.Socket[] = [];
    for (let t = 0; t < TOPICS; t++) {
      const s = await rawSubscriber(server.port, `t${t}`);
      s.pause();
      deaf.push(s);
    }
    const publishers = await openClients(server.url, PUBLISHERS, PUBLISHERS, { perMessageDeflate: true });
    const sent = new Map<string, number>(); // topic → messages published to it
    const churners: net.Socket[] = [];
    const wsChurners: WebSocket[] = [];
    for (let n = 0; n < PER_PUBLISHER; n++) {
      for (const [p, pub] of publishers.entries()) {
        const topic = `t${Math.floor(rnd() * TOPICS)}`;
        sent.set(topic, (sent.get(topic) ?? 0) + 1);
        pub.send(JSON.stringify({ op: 'publish', topic, data: { p, n, pad: PAD } }));
      }
      if (n % 4 !== 0) continue;
      const r = rnd();
      const topic = `t${Math.floor(rnd() * TOPICS)}`;
      if (r < 0.25) {
        // A ws client that subscribes, then closes or is terminated (reset) at once or a little later.
        const ws = new WebSocket(server.url, { perMessageDeflate: rnd() < 0.5 });
        ws.on('error', () => {});
        ws.once('open', () => {
          ws.send(JSON.stringify({ op: 'subscribe', topic }));
          if (rnd() < 0.5) ws.close(1000);
          else ws.once('message', () => ws.terminate());
        });
        wsChurners.push(ws);
      } else if (r < 0.5) {
        // A raw subscriber that resets in the middle of a frame it is sending.
        const s = await rawSubscriber(server.port, topic);
        const half = text(JSON.stringify({ op: 'unsubscribe', topic }));
        s.write(half.subarray(0, Math.max(1, Math.floor(rnd() * (half.length - 1)))), () => s.resetAndDestroy());
        churners.push(s);
      } else if (r < 0.75) {
        // Subscribes and unsubscribes, then leaves with a FIN and no close frame.
        const s = await rawSubscriber(server.port, topic);
        s.resume();
        s.end(text(JSON.stringify({ op: 'unsubscribe', topic })));
        churners.push(s);
      } else {
        // Asks for an upgrade and resets before reading the answer.
        const s = net.connect(server.port, '127.0.0.1');
        s.on('error', () => {});
        s.once('connect', () => s.write(requestHead({ Host: `127.0.0.1:${server.port}` }), () => s.resetAndDestroy()));
        churners.push(s);
      }
      if (n % 40 === 0) await new Promise((r) => setImmediate(r));
    }
    // Every steady subscriber gets all of its topic's messages, in order.
    await Promise.all(steady.map((s) => s.until(() => s.count >= (sent.get(s.topic) ?? 0) || s.problems.length > 0)));
    for (const s of steady) {
      assert.deepEqual(s.problems, [], `${s.topic}`);
      assert.equal(s.count, sent.get(s.topic) ?? 0, `${s.topic}: every message`);
    }
    console.log(
      `published ${PUBLISHERS * PER_PUBLISHER}; ${steady.length} steady subscribers got every one of theirs in order`,
    );
    // Everyone leaves; the server still serves and holds no descriptor.
    for (const s of [...churners, ...deaf]) s.destroy();
    for (const ws of [...wsChurners, ...publishers, ...steady.map((s) => s.ws)]) ws.terminate();
    assert.ok(await eventually(() => server.fds() <= fds0), `descriptors ${server.fds()}, before ${fds0}`);
    const [ws] = await openClients(server.url, 1);
    ws!.send(JSON.stringify({ op: 'subscribe', topic: 'after' }));
    assert.equal((JSON.parse(String((await once(ws!, 'message'))[0])) as Msg).op, 'subscribed');
    ws!.close();
    await once(ws!, 'close');
  } finally {
    assert.deepEqual(await server.stop(), { code: 0, signal: null });
  }
});
