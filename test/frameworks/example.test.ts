/** examples/socketio runs: Socket.IO on ws-stream/ws, driven by socket.io-client over the websocket transport. */
import { it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { io as connect, type Socket } from 'socket.io-client';
import { nextEvent } from './engines.js';

const clients: Socket[] = [];
const proc = spawn(process.execPath, [fileURLToPath(new URL('../../examples/socketio.js', import.meta.url))], {
  env: { ...process.env, PORT: '0' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
after(() => {
  for (const c of clients) c.disconnect();
  proc.kill();
});

it('examples/socketio: echo with ack (text and binary), and a room chat between two clients', async () => {
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    proc.once('exit', (code) => reject(new Error(`the example exited with ${code}`)));
  });
  const open = async () => {
    const c = connect(url, { transports: ['websocket'], forceNew: true, reconnection: false });
    clients.push(c);
    await nextEvent(c, 'connect', 'connect_error');
    return c;
  };
  const [a, b] = [await open(), await open()];
  assert.equal(await a.emitWithAck('echo', 'hello over ws-stream ✓'), 'hello over ws-stream ✓');
  const bytes = Buffer.from([0, 1, 2, 250, 255]);
  assert.ok(Buffer.from((await a.emitWithAck('echo', bytes)) as Uint8Array).equals(bytes));
  await a.emitWithAck('join', 'lobby');
  await b.emitWithAck('join', 'lobby');
  const heard = new Promise<[string, string]>((resolve) =>
    b.once('said', (from: string, text: string) => resolve([from, text])),
  );
  a.emit('say', 'lobby', 'hi room');
  assert.deepEqual(await heard, [a.id, 'hi room']);
});
