/** The examples run: each starts, accepts a client (the ws npm client) and echoes a message. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

for (const name of ['http-upgrade', 'net-accept', 'tls-accept']) {
  it(`examples/${name} echoes a message`, async () => {
    const file = fileURLToPath(new URL(`../../examples/${name}.js`, import.meta.url));
    const p = spawn(process.execPath, [file], {
      env: { ...process.env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        p.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /listening on (\S+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        p.once('exit', (code) => reject(new Error(`exited with ${code}`)));
      });
      const c = new WebSocket(url, name === 'net-accept' ? ['echo'] : [], { rejectUnauthorized: false });
      await new Promise((r, j) => {
        c.once('open', r);
        c.once('error', j);
      });
      if (name === 'net-accept') assert.equal(c.protocol, 'echo');
      const back = new Promise<string>((r) => c.once('message', (d) => r(String(d))));
      c.send('from the example test');
      assert.equal(await back, 'from the example test');
      c.close();
    } finally {
      p.kill();
    }
  });
}
