/**
 * For tests of what a topic holds while it waits for a read of the broker: the subscribing
 * process's broker reaches its server through a `TcpProxy`; its link is cut and, once back, the
 * topic's read is held at the proxy (Redis: its history read after the position; NATS: the stream's
 * info), so that live messages published meanwhile are held by the topic (or dropped past its bound).
 */
import type { ProxyLink, TcpProxy } from '../support/brokers.js';

/** The links of a process's broker back after the cut: `held` (its read held there) and `live` (live messages come on it). */
export interface HeldRead {
  readonly held: ProxyLink;
  readonly live: ProxyLink;
}

/**
 * Cuts every link through `proxy` and holds the new ones; once `down()` resolves (the process
 * knows its link is lost), lets them back with `topic`'s read held. Resolves once the topic's
 * live messages reach the process again and its read is held: publish, wait for them on `live`,
 * then `held.release()`.
 */
export async function cutAndHoldRead(
  proxy: TcpProxy,
  kind: 'redis' | 'nats',
  topic: string,
  down: () => Promise<void>,
): Promise<HeldRead> {
  const old = new Set(proxy.links);
  proxy.holding = true;
  for (const link of old) link.destroy();
  await down();
  const fresh = (): ProxyLink[] => [...proxy.links].filter((l) => !old.has(l));
  if (kind === 'redis') {
    // Two connections: the command one (its first script is the position read) and the subscriber one.
    const [command, subscriber] = await proxy.until(() => {
      const links = fresh();
      const c = links.find((l) => l.clientText.includes('SETINFO') && !l.clientText.includes('subscribe'));
      const s = links.find((l) => l.clientText.includes('subscribe'));
      return c && s ? ([c, s] as const) : undefined;
    });
    const reads = (): number => command.clientText.split('EVALSHA').length - 1;
    proxy.holding = false;
    command.holdClientFrom('EVALSHA');
    command.release();
    subscriber.release();
    // The channel subscribed again (Redis's confirmation names it) and the position read sent: that
    // read let through, the history read after it held.
    await proxy.until(() => (subscriber.serverText.includes(`ws-stream:${topic}`) && reads() === 1) || undefined);
    command.release();
    command.holdClientFrom('EVALSHA');
    await proxy.until(() => reads() === 2 || undefined);
    return { held: command, live: subscriber };
  }
  // One connection: its subscriptions made again by the client, the topic's stream info held.
  const link = await proxy.until(() => fresh()[0]);
  link.holdClientFrom('STREAM.INFO');
  proxy.holding = false;
  link.release();
  await proxy.until(() => link.clientText.includes('STREAM.INFO') || undefined);
  return { held: link, live: link };
}

/**
 * Cuts every link through `proxy`; once `down()` resolves (the process knows its link is lost),
 * runs `away()` (what the process misses), then lets the links back with the history read that
 * `PubSub` makes itself held: the one for what its broker's own catch-up could not fill, once the
 * broker is available again (Redis: the third script on the command link, after the topic's
 * position and the broker's own read; NATS: the first stream info after the broker's own fetch).
 * Resolves with the link once that read is held there.
 */
export async function cutAndHoldCatchUpRead(
  proxy: TcpProxy,
  kind: 'redis' | 'nats',
  down: () => Promise<void>,
  away: () => Promise<void>,
): Promise<ProxyLink> {
  const old = new Set(proxy.links);
  proxy.cut();
  await down();
  await away();
  const fresh = (): ProxyLink[] => [...proxy.links].filter((l) => !old.has(l));
  const count = (link: ProxyLink, text: string): number => link.clientText.split(text).length - 1;
  /** Lets `link`'s held bytes go on, holding it again from its next `text`, until the `nth`: held. */
  const holdNth = async (link: ProxyLink, text: string, nth: number): Promise<void> => {
    for (let seen = count(link, text); seen < nth; ) {
      await proxy.until(() => count(link, text) > seen || undefined);
      seen = count(link, text);
      if (seen < nth) {
        link.release();
        link.holdClientFrom(text);
      }
    }
  };
  if (kind === 'redis') {
    const command = await proxy.until(() =>
      fresh().find((l) => l.clientText.includes('SETINFO') && !l.clientText.includes('subscribe')),
    );
    command.holdClientFrom('EVALSHA');
    proxy.restore();
    await holdNth(command, 'EVALSHA', 3);
    return command;
  }
  const link = await proxy.until(() => fresh()[0]);
  link.holdClientFrom('CONSUMER.MSG.NEXT');
  proxy.restore();
  await holdNth(link, 'CONSUMER.MSG.NEXT', 1);
  const infos = count(link, 'STREAM.INFO');
  link.release();
  link.holdClientFrom('STREAM.INFO');
  await holdNth(link, 'STREAM.INFO', infos + 1);
  return link;
}
