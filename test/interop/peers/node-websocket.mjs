// Node's own global WebSocket (Node 20: behind --experimental-websocket; its bundled undici, an older one than the
// undici package), run by undici.test.ts: `node --experimental-websocket node-websocket.mjs URL COMMANDS`.
// COMMANDS is 1 when the server obeys the test's text commands (cmd:ping, cmd:close, cmd:terminate).
// Prints one JSON line of what it saw.
import { createHash } from 'node:crypto';

const [url, commands] = process.argv.slice(2);

function open(protocols) {
  const ws = new WebSocket(url, protocols);
  ws.binaryType = 'arraybuffer';
  const queue = [];
  const waiting = [];
  ws.onmessage = (e) => {
    const got = typeof e.data === 'string' ? `text:${e.data}` : `bin:${digest(Buffer.from(e.data))}`;
    const w = waiting.shift();
    if (w) w(got);
    else queue.push(got);
  };
  let error = false;
  const closed = new Promise((resolve) => {
    ws.onclose = (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean, error });
  });
  return new Promise((resolve, reject) => {
    ws.onerror = () => {
      error = true;
      if (ws.readyState !== WebSocket.OPEN) reject(new Error(`could not connect to ${url}`));
    };
    ws.onopen = () =>
      resolve({
        ws,
        closed,
        next: () => (queue.length > 0 ? Promise.resolve(queue.shift()) : new Promise((r) => waiting.push(r))),
      });
  });
}

const digest = (b) => `${b.length}:${createHash('sha256').update(b).digest('hex').slice(0, 16)}`;
const big = Buffer.alloc(1024 * 1024);
for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 10)) & 0xff;

const result = { node: process.version, undici: process.versions.undici };
const c = await open(['superchat', 'chat']);
result.protocol = c.ws.protocol;
result.extensions = c.ws.extensions;
const sent = ['héllo ✓ 𝄞', big, '', new Uint8Array(0)];
for (const m of sent) c.ws.send(m);
result.echoes = [];
for (let i = 0; i < sent.length; i++) result.echoes.push(await c.next());
result.expected = sent.map((m) => (typeof m === 'string' ? `text:${m}` : `bin:${digest(Buffer.from(m))}`));
c.ws.close(4000, 'bye ✓');
result.clientClose = await c.closed;

if (commands === '1') {
  const d = await open();
  d.ws.send('cmd:ping hi');
  result.pong = await d.next();
  d.ws.send('cmd:close 4001 server ✓');
  result.serverClose = await d.closed;
  const e = await open();
  e.ws.send('cmd:terminate');
  result.terminated = await e.closed;
}
process.stdout.write(`${JSON.stringify(result)}\n`);
