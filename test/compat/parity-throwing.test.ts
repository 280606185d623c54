/**
 * A handleProtocols function or a 'headers' listener that throws: ws lets the error propagate (an
 * uncaught exception); ws-stream/ws must too, never swallow it (the core answers the upgrade 500)
 * nor turn it into an unhandled rejection. Each case runs in its own process.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

const modules = {
  ws: pathToFileURL(createRequire(import.meta.url).resolve('ws')).href,
  compat: new URL('../../src/compat/index.js', import.meta.url).href,
};

/** The child: a server whose `where` throws, one client; prints what reached the process. */
function script(module: string, where: 'headers' | 'handleProtocols'): string {
  return `
    const { once } = await import('node:events');
    const mod = await import(${JSON.stringify(module)});
    const WebSocket = mod.default;
    process.on('unhandledRejection', (e) => { console.log('unhandled rejection: ' + e.message); process.exit(0); });
    process.on('uncaughtException', (e) => { console.log('uncaught: ' + e.message); process.exit(0); });
    const boom = () => { throw new Error('boom from ${where}'); };
    const wss = new WebSocket.Server({ host: '127.0.0.1', port: 0, ${where === 'handleProtocols' ? 'handleProtocols: boom' : ''} });
    ${where === 'headers' ? "wss.on('headers', boom);" : ''}
    await once(wss, 'listening');
    const client = new WebSocket('ws://127.0.0.1:' + wss.address().port, ['p']);
    client.on('error', () => {});
    // Without the error reaching the process, the client's refusal ends the child.
    client.on('close', () => { console.log('client closed'); process.exit(0); });
  `;
}

for (const name of ['ws', 'compat'] as const) {
  describe(`${name}: a listener called while the 101 is built throws`, () => {
    for (const where of ['headers', 'handleProtocols'] as const) {
      it(`${where}: the error is an uncaught exception, not swallowed, not a rejection`, async () => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script(modules[name], where)], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d;
        });
        child.stderr.on('data', (d: Buffer) => {
          out += d;
        });
        const [code] = await once(child, 'exit');
        assert.equal(code, 0, out);
        assert.equal(out.trim(), `uncaught: boom from ${where}`);
      });
    }
  });
}
