/**
 * The chat page (`GET /` of `serve --pubsub`) in headless Chromium, checked from outside: a page
 * opened while the broker is down is refused its room (ERR_WS_BROKER_UNAVAILABLE, shown), and
 * joins it by itself once the broker is up, as the protocol asks of a client ("the client
 * subscribes again later").
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startServer } from '../conformance/raw-client.js';
import { BrokerProcess } from '../support/brokers.js';
import { useChromium } from '../support/browser.js';
import { type Deployment, Peer } from './outside-support.js';

let redis: BrokerProcess;
let server: Awaited<ReturnType<typeof startServer>>;
const d: Deployment = { ports: [], opened: [] };
before(async () => {
  redis = await BrokerProcess.redis({ start: false });
  server = await startServer(['--pubsub', '--broker', redis.url]);
});
after(async () => {
  for (const p of d.opened) p.close();
  await server?.stop();
  await redis?.stop();
});
const browser = useChromium();

it('a chat page opened while the broker is down joins its room by itself once the broker is up', async () => {
  const page = await browser().newPage();
  await page.goto(`http://127.0.0.1:${server.port}/?room=porch&name=dora`);
  await page.waitForFunction(() => document.querySelectorAll('#messages li.error').length > 0);
  assert.match((await page.textContent('#messages li.error')) ?? '', /^ERR_WS_BROKER_UNAVAILABLE: /);
  await redis.start();
  await page.waitForFunction(() => document.getElementById('state')?.textContent === 'joined', undefined, {
    timeout: 20_000,
  });
  const other = await Peer.connect(server.port, d.opened);
  await other.subscribe('porch');
  other.send({ op: 'publish', topic: 'porch', data: { from: 'eve', text: 'anyone home?' } });
  await page.waitForFunction(() => document.querySelectorAll('#messages li.message').length === 1);
  assert.equal(await page.textContent('#messages li.message'), 'eve: anyone home?');
  await page.close();
});
