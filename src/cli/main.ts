#!/usr/bin/env node
/** The command line: `ws-stream serve …` and `ws-stream connect URL …`. */
import { readFileSync } from 'node:fs';
// Only the command line's own reader: what a command runs is imported when it runs (below), so
// that a usage error, --help or --version does not load the stream, pub/sub and TLS layers.
import { type ConnectConfig, type ServeConfig, UsageError, limits, parseConnectArgs, parseServeArgs } from './args.js';

const usage = `usage:
  ws-stream serve [--host 127.0.0.1] [--port 8080] [--protocols chat,superchat] [--workers 1] [--quiet]
                  [--handshake-timeout 30] [--idle-timeout 0] [--deflate] [--tls [--cert FILE --key FILE]] [--log]
      (timeouts in seconds, keep-alive pings at half the idle time; the handshake timeout counts from
      the TCP connection; --tls serves wss:// with HTTP/1.1 upgrades and HTTP/2 extended CONNECT on
      one port, with a self-signed certificate made by the openssl command unless given; --cert and
      --key are PEM files, regular files of at most 1 MiB)
      an echo server: every message comes back with its type; GET / shows a page to try it;
      --workers: processes on one port (node:cluster; with --tls and no --cert, one certificate for all);
      --quiet: no line per refused handshake, nor with --pubsub per broker outage or topic gap (a lost
      worker still is)
      --host (both modes): a host name or IP address, an IPv6 one as is or in brackets (::1, [::1]; no
      %zone); numbers (both modes) are decimal, without a leading zero (--port 08: 8, or octal?)
  ws-stream serve --pubsub [--broker redis[s]://[user:pass@]H:P[/db] | nats://|tls://[cred@]H:P[,…]]
                  [--broker-timeout 5] [--history 1000] [--history-bytes 16777216]
                  [--history-total-bytes 268435456] [--workers 1] [--max-topics 1000]
                  [--max-publish-bytes-in-flight 67108864] [--max-held-bytes 4194304]
                  [--max-recovery-bytes 268435456] [--recovery-stall-timeout 30] [--host …] [--port …]
                  [--handshake-timeout …] [--idle-timeout …] [--deflate] [--quiet]
      a pub/sub server (JSON protocol, see doc/pubsub.md); GET / shows a chat page. --broker: Redis, or
      NATS servers comma-separated (cred: user:pass or a token); a broker down is waited for, one that
      refuses the credentials or a TLS certificate node does not trust ends serve. --broker-timeout:
      seconds the broker may take to answer a publish, subscribe or keep-alive ping (sent that often)
      before the publish fails with ERR_WS_BROKER_UNAVAILABLE or the link counts as stalled and is
      made again (> 0; raise it for a slow network). --history: messages kept per topic
      (≤ ${limits.history.max}); --history-bytes: their payload bytes per topic, the oldest dropped first
      (≤ ${limits.historyBytes.max}); --history-total-bytes: all topics' together, without --broker
      (≤ ${limits.historyTotalBytes.max}); --workers: processes on one port (≤ ${limits.workers.max});
      --max-topics: topics one connection may subscribe to (≤ ${limits.maxTopics.max});
      --max-publish-bytes-in-flight: bytes of publishes waiting for the broker in one process, past
      which publishers are not read until they drop (≥ 1, ≤ ${limits.maxPublishBytesInFlight.max});
      --max-held-bytes: with --broker, payload bytes of live messages a topic holds while it waits
      for a read of the broker, past which they are read back from history (≥ 1, ≤ ${limits.maxHeldBytes.max});
      each subscriber's backlog (4 MiB) is raised to it; --max-recovery-bytes: with --broker or
      --workers, payload bytes of history one process holds for clients recovering with since, past
      which further recoveries wait their turn (≥ 1, ≤ ${limits.maxRecoveryBytes.max});
      --recovery-stall-timeout: seconds a client recovering with since may take none of its history
      while recoveries wait past --max-recovery-bytes before it is closed with 1008 (0: never);
      offsets a topic skips (history no longer held them) are one line on stderr, unless --quiet
  ws-stream connect URL [--protocol P]... [--header 'Name: value']... [--binary] [--insecure] [--ca FILE] [--deflate]
      an interactive client: lines typed are sent, messages received are printed; Ctrl-D closes.
      URL: ws:// or wss://, an IPv6 address in brackets (ws://[::1]:8080/), no #fragment; --ca trusts
      a CA (or self-signed) certificate PEM file (at most 1 MiB), --insecure accepts any certificate
  ws-stream --version`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'serve') {
    // A server whose output nobody reads any more (the pipe closed: EPIPE) serves on; an 'error'
    // event without a listener would end the process at its next line of log.
    for (const out of [process.stdout, process.stderr]) out.on('error', () => {});
    if (asksForHelp(rest)) {
      console.log(usage);
      return 0;
    }
    let config: ServeConfig;
    try {
      config = parseServeArgs(rest);
    } catch (err) {
      return usageError('serve', err);
    }
    if (config.pubsub) return (await import('./pubsub-serve.js')).runPubSubServe(config);
    return (await import('./echo-serve.js')).runEchoServe(config);
  }
  if (command === 'connect') {
    if (asksForHelp(rest)) {
      console.log(usage);
      return 0;
    }
    let config: ConnectConfig;
    try {
      config = parseConnectArgs(rest);
    } catch (err) {
      return usageError('connect', err);
    }
    return (await import('./connect.js')).runConnect(config);
  }
  if (command === '--help' || command === '-h' || command === 'help') {
    // (`help serve` is help too; anything else after it was meant as something, and is refused.)
    if (rest.length > 1 || (rest.length === 1 && rest[0] !== 'serve' && rest[0] !== 'connect')) {
      console.error(
        `ws-stream ${command}: unexpected ${JSON.stringify(rest.join(' '))} (ws-stream --help shows the usage)`,
      );
      return 2;
    }
    console.log(usage);
    return 0;
  }
  if (command === '--version' || command === '-v' || command === 'version') {
    if (rest.length > 0) {
      console.error(`ws-stream ${command} takes no arguments, not ${JSON.stringify(rest.join(' '))}`);
      return 2;
    }
    console.log(packageVersion());
    return 0;
  }
  if (command === undefined) {
    console.error(usage);
    return 2;
  }
  console.error(
    `ws-stream: unknown command ${JSON.stringify(command)}: serve or connect (ws-stream --help shows the usage)`,
  );
  return 2;
}

/**
 * Whether a command's arguments ask for help: `--help` or `-h` before a `--` (after it, a word is
 * an argument: `connect -- --help` names a URL, refused as one).
 */
function asksForHelp(args: string[]): boolean {
  const end = args.indexOf('--');
  return args.slice(0, end < 0 ? args.length : end).some((word) => word === '--help' || word === '-h');
}

/** This package's version, from its package.json (dist/src/cli/ is three folders below it). */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** A command line that cannot run: one line naming the option, exit code 2 (anything else is thrown on). */
function usageError(command: string, err: unknown): number {
  if (!(err instanceof UsageError)) throw err;
  console.error(`ws-stream ${command}: ${err.message}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    // Could not start (the port taken, a certificate file missing…): nothing half-started stays up,
    // not even a cluster worker whose IPC channel would keep it alive. (workers.js is loaded by then,
    // unless what failed was no server's start.)
    const reason = err instanceof Error ? err.message : String(err);
    void import('./workers.js').then(({ exitNotStarted }) => exitNotStarted(reason));
  },
);
