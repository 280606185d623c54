/** `ws-stream serve` as a person runs it: the URL printed, the page, and Ctrl-C closing connections with 1001. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, startServer } from './raw-client.js';

it('prints its URL, serves the page at GET /, and on SIGINT sends close 1001 and exits 0', async () => {
  const server = await startServer();
  const page = await fetch(`http://127.0.0.1:${server.port}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<title>ws-stream echo<\/title>/);
  const c = await RawClient.connect(server.port);
  const exited = new Promise<number | null>((resolve) => server.proc.once('exit', (code) => resolve(code)));
  server.proc.kill('SIGINT');
  assert.equal(await c.expectClose(), 1001);
  assert.equal(await exited, 0);
  c.destroy();
});
