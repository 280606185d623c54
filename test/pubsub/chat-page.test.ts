/**
 * The chat page of `ws-stream serve --pubsub` in headless Chromium (Debian's, driven by
 * playwright-core): two people in one room see each other's messages; one in another room does not.
 */
import { it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { startServer } from '../conformance/raw-client.js';
import { useChromium } from '../support/browser.js';
import { JsonClient } from './pubsub-support.js';

let server: Awaited<ReturnType<typeof startServer>>;
before(async () => {
  server = await startServer(['--pubsub']);
});
after(async () => {
  await server?.stop();
});
const browser = useChromium();

async function join(room: string, name: string): Promise<Page> {
  const page = await browser().newPage();
  await page.goto(`http://127.0.0.1:${server.port}/?room=${room}&name=${name}`);
  await page.waitForFunction(() => document.getElementById('state')?.textContent === 'joined');
  assert.equal(await page.textContent('#room-name'), room);
  return page;
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill('#text', text);
  await page.click('#send');
}

const messages = (page: Page) => page.$$eval('#messages li.message', (lis) => lis.map((li) => li.textContent));

it('two pages in one room see each other’s messages in one order; a page in another room sees none of them', async () => {
  const alice = await join('garden', 'alice');
  const bob = await join('garden', 'bob');
  const carol = await join('cellar', 'carol');
  await say(alice, 'hello bob ✓');
  await bob.waitForFunction(() => document.querySelectorAll('#messages li.message').length === 1);
  await say(bob, 'hi alice');
  await say(carol, 'anyone down here?');
  for (const page of [alice, bob]) {
    await page.waitForFunction(() => document.querySelectorAll('#messages li.message').length === 2);
    assert.deepEqual(await messages(page), ['alice: hello bob ✓', 'bob: hi alice']);
  }
  await carol.waitForFunction(() => document.querySelectorAll('#messages li.message').length === 1);
  assert.deepEqual(await messages(carol), ['carol: anyone down here?']);
  // Switching rooms: carol joins the garden and sees what is said there from now on.
  await carol.fill('#room', 'garden');
  await carol.click('#go');
  await carol.waitForFunction(() => document.getElementById('room-name')?.textContent === 'garden');
  await carol.waitForFunction(() => document.getElementById('state')?.textContent === 'joined');
  await say(alice, 'welcome carol');
  await carol.waitForFunction(() => document.querySelectorAll('#messages li.message').length === 1);
  assert.deepEqual(await messages(carol), ['alice: welcome carol']);
  for (const p of [alice, bob, carol]) await p.close();
});

it('shows what other clients publish to the room as sent: a string as itself, other JSON as JSON', async () => {
  // The page publishes { from, text }; any client of the protocol may publish other data to a room.
  // The page showed every such message as "undefined: undefined".
  const dana = await join('forum', 'dana');
  const script = await JsonClient.connect(server.port);
  script.send({ op: 'subscribe', topic: 'forum' });
  assert.equal((await script.next('subscribed')).op, 'subscribed');
  const published = [
    'plain text',
    42,
    null,
    [1, 'two'],
    { level: 3 },
    { text: 'no name' },
    { from: 'eve', text: 'hi' },
  ];
  for (const data of published) script.send({ op: 'publish', topic: 'forum', data });
  for (let i = 0; i < published.length; i++) assert.equal((await script.next('its own message')).op, 'message');
  await dana.waitForFunction((n) => document.querySelectorAll('#messages li.message').length === n, published.length);
  assert.deepEqual(await messages(dana), [
    'plain text',
    '42',
    'null',
    '[1,"two"]',
    '{"level":3}',
    'someone: no name',
    'eve: hi',
  ]);
  script.close();
  await dana.close();
});
