/**
 * ws-stream/ws against a peer that ends (FIN) after every byte of an exchange, compared with the
 * real `ws` 8 on the same bytes: the server role (permessage-deflate on, compressed and plain
 * messages, a fragmented one with a ping between its parts, a close) and the client role (a fake
 * server cut after every byte of its answer). For every cut both must report the same messages and
 * close code; each socket emits 'close' exactly once, at most one 'error' and none after 'close',
 * and nothing is thrown out of an event.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { compressedText } from '../support/drop-client.js';
import { closeFrame, cont, helloWorld, ping, requestHead, text } from '../support/frames.js';
import { attack, fakeServer, response101 } from '../support/hostile.js';
import { type Impl, impls } from '../compat/support.js';

interface Seen {
  messages: string[];
  code: number | null;
  events: string[];
}

/** Checks the event sequence of one socket: one 'close', at most one 'error', none after 'close'. */
function checkEvents(events: string[], where: string): void {
  assert.equal(events.filter((e) => e === 'close').length, 1, `${where}: ${events.join(' ')}`);
  assert.ok(events.filter((e) => e === 'error').length <= 1, `${where}: ${events.join(' ')}`);
  assert.equal(events.at(-1), 'close', `${where}: nothing after close: ${events.join(' ')}`);
}

// biome-ignore lint/suspicious/noExplicitAny: ws's API
function watch(socket: any): { seen: Seen; closed: Promise<void> } {
  const seen: Seen = { messages: [], code: null, events: [] };
  socket.on('message', (d: Buffer) => {
    seen.messages.push(String(d));
    seen.events.push('message');
  });
  socket.on('error', () => seen.events.push('error'));
  const closed = new Promise<void>((resolve) =>
    socket.on('close', (code: number) => {
      seen.code = code;
      seen.events.push('close');
      resolve();
    }),
  );
  return { seen, closed };
}

async function noThrow<T>(fn: () => Promise<T>): Promise<T> {
  const thrown: unknown[] = [];
  const on = (e: unknown): void => {
    thrown.push(e);
  };
  process.on('uncaughtException', on);
  process.on('unhandledRejection', on);
  try {
    const r = await fn();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(thrown, []);
    return r;
  } finally {
    process.off('uncaughtException', on);
    process.off('unhandledRejection', on);
  }
}

describe('a FIN after every byte: ws-stream/ws as ws 8', { timeout: 300_000 }, () => {
  it('server role, permessage-deflate: the same messages and close code for every cut', async (t) => {
    const [f1, f2] = (() => {
      const whole = compressedText('world, in two frames');
      // Split the compressed frame's payload over two frames: unmask, re-frame.
      const key = whole.subarray(2, 6);
      const body = Buffer.from(whole.subarray(6)).map((b, i) => b ^ key[i & 3]!);
      const half = body.length >> 1;
      return [text(body.subarray(0, half), { rsv: 4, fin: false }), cont(body.subarray(half))];
    })();
    const exchange = [
      requestHead({ 'Sec-WebSocket-Extensions': 'permessage-deflate' }, 'GET / HTTP/1.1'),
      compressedText('hello'),
      f1,
      ping('p'),
      f2,
      text('plain'),
      closeFrame(1000, 'bye'),
    ];
    const bytes = Buffer.concat(exchange.map((c) => Buffer.from(c)));
    const requestLength = Buffer.byteLength(exchange[0] as string);
    await noThrow(async () => {
      const servers = new Map<string, { port: number; next: () => Promise<Seen> }>();
      for (const impl of impls) {
        const wss = new impl.WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: true });
        t.after(() => wss.close());
        await once(wss, 'listening');
        const done: Promise<Seen>[] = [];
        wss.on('connection', (s: unknown) => {
          const w = watch(s);
          done.push(w.closed.then(() => w.seen));
        });
        let taken = 0;
        servers.set(impl.name, {
          port: wss.address().port,
          next: async () => {
            while (done.length <= taken) await new Promise((r) => setImmediate(r));
            return done[taken++]!;
          },
        });
      }
      const outcomes = new Set<string>();
      for (let cut = requestLength; cut <= bytes.length; cut++) {
        const results: Seen[] = [];
        for (const impl of impls) {
          const srv = servers.get(impl.name)!;
          await attack(srv.port, [bytes.subarray(0, cut)], { end: true });
          const seen = await srv.next();
          checkEvents(seen.events, `${impl.name} cut ${cut}`);
          results.push(seen);
        }
        const [ws, compat] = results as [Seen, Seen];
        assert.deepEqual(
          [compat.messages, compat.code],
          [ws.messages, ws.code],
          `cut ${cut}: ws-stream/ws ${compat.events.join(' ')}, ws ${ws.events.join(' ')}`,
        );
        outcomes.add(`${ws.messages.length} messages, ${ws.code}`);
      }
      console.log(`server role: ${bytes.length - requestLength + 1} cuts, alike on both: ${[...outcomes].join('; ')}`);
    });
  });

  it('client role: the same messages and close code for every cut of the answer', async (t) => {
    let cut = 0;
    let answer = Buffer.alloc(0);
    const { url } = await fakeServer(t, (s, accept) => {
      answer = Buffer.concat([Buffer.from(response101(accept)), ...helloWorld('bye', { mask: false })]);
      s.end(answer.subarray(0, cut));
    });
    const run = (impl: Impl): Promise<Seen> => {
      const c = new impl.WebSocket(url);
      const w = watch(c);
      return w.closed.then(() => w.seen);
    };
    await noThrow(async () => {
      cut = Number.MAX_SAFE_INTEGER;
      await run(impls[0]!);
      const total = answer.length;
      for (cut = 0; cut <= total; cut++) {
        const [ws, compat] = [await run(impls[0]!), await run(impls[1]!)];
        checkEvents(ws.events, `ws cut ${cut}`);
        checkEvents(compat.events, `ws-stream/ws cut ${cut}`);
        assert.deepEqual(
          [compat.messages, compat.code, compat.events.includes('error')],
          [ws.messages, ws.code, ws.events.includes('error')],
          `cut ${cut}: ws-stream/ws ${compat.events.join(' ')}, ws ${ws.events.join(' ')}`,
        );
      }
    });
  });
});
