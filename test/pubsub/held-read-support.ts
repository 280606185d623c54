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
