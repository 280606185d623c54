/** Whether this machine has IPv6 on loopback (a container may have none): a test of `[::1]` asks first. */
import net from 'node:net';

/**
 * Listens on ::1 once: `null` when it can, else the error code (EADDRNOTAVAIL with no ::1 on `lo`,
 * EAFNOSUPPORT without IPv6 at all).
 */
export function ipv6LoopbackMissing(): Promise<string | null> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? String(err)));
    probe.listen(0, '::1', () => probe.close(() => resolve(null)));
  });
}

/** The codes that mean "no IPv6 loopback here", as opposed to a failure of the test itself. */
export const NO_IPV6_CODES: readonly string[] = ['EADDRNOTAVAIL', 'EAFNOSUPPORT', 'EPROTONOSUPPORT'];
