#!/usr/bin/env node
/** The command line: `ws-stream serve …` and `ws-stream connect URL …`. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runConnect } from './connect.js';
import { runPubSubServe } from './pubsub-serve.js';
import { serve } from './serve.js';
import { stopOnSignals } from './shutdown.js';

const usage = `usage:
  ws-stream serve [--host 127.0.0.1] [--port 8080] [--protocols chat,superchat] [--quiet]
                  [--handshake-timeout 30] [--idle-timeout 0] [--deflate] [--tls [--cert FILE --key FILE]] [--log]
      (timeouts in seconds, keep-alive pings at half the idle time; the handshake timeout counts from
      the TCP connection; --tls serves wss:// with HTTP/1.1 upgrades and HTTP/2 extended CONNECT on
      one port, with a self-signed certificate made by the openssl command unless given)
      an echo server: every message comes back with its type; GET / shows a page to try it
  ws-stream serve --pubsub [--broker redis://H:P | nats://H:P] [--history 1000] [--workers N] [serve's options]
      a pub/sub server (JSON protocol, see doc/pubsub.md); GET / shows a chat page
  ws-stream connect URL [--protocol P]... [--header 'Name: value']... [--binary] [--insecure] [--ca FILE] [--deflate]
      an interactive client: lines typed are sent, messages received are printed; Ctrl-D closes`;

/** A self-signed certificate for localhost and 127.0.0.1, made with the machine's openssl. */
function selfSignedCertificate(): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'ws-stream-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '30',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  } catch {
    throw new Error('could not make a self-signed certificate with openssl: give --cert and --key');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'serve') {
    const { values } = parseArgs({
      args: rest,
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '8080' },
        protocols: { type: 'string', default: '' },
        quiet: { type: 'boolean', default: false },
        'handshake-timeout': { type: 'string', default: '30' },
        'idle-timeout': { type: 'string', default: '0' },
        deflate: { type: 'boolean', default: false },
        tls: { type: 'boolean', default: false },
        cert: { type: 'string' },
        key: { type: 'string' },
        log: { type: 'boolean', default: false },
        pubsub: { type: 'boolean', default: false },
        broker: { type: 'string' },
        history: { type: 'string', default: '1000' },
        workers: { type: 'string', default: '1' },
      },
    });
    const port = Number(values.port);
    let tls: { key: Buffer; cert: Buffer } | undefined;
    if (values.tls || values.cert || values.key) {
      if ((values.cert === undefined) !== (values.key === undefined)) {
        console.error('ws-stream: --cert and --key go together');
        return 2;
      }
      tls = values.cert ? { cert: readFileSync(values.cert), key: readFileSync(values.key!) } : selfSignedCertificate();
    }
    const handshakeTimeout = Number(values['handshake-timeout']);
    const idleTimeout = Number(values['idle-timeout']);
    if (!(handshakeTimeout >= 0) || !(idleTimeout >= 0)) {
      console.error('ws-stream: timeouts are seconds, 0 or more');
      return 2;
    }
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      console.error(`ws-stream: bad port ${values.port}`);
      return 2;
    }
    if (values.pubsub) {
      if (tls) {
        console.error('ws-stream: serve --pubsub serves ws:// only (no --tls)');
        return 2;
      }
      const history = Number(values.history);
      const workers = Number(values.workers);
      if (!Number.isInteger(history) || history < 0 || !Number.isInteger(workers) || workers < 1) {
        console.error('ws-stream: --history is a count ≥ 0, --workers a count ≥ 1');
        return 2;
      }
      const { host, quiet, deflate, broker } = values;
      return runPubSubServe({
        host: host!,
        port,
        quiet: quiet!,
        deflate,
        broker,
        history,
        workers,
        handshakeTimeout: Math.round(handshakeTimeout * 1000),
        idleTimeout: Math.round(idleTimeout * 1000),
      });
    }
    const running = await serve({
      host: values.host!,
      port,
      protocols: values.protocols
        ? values.protocols
            .split(',')
            .map((p) => p.trim())
            .filter(Boolean)
        : [],
      quiet: values.quiet!,
      handshakeTimeout: Math.round(handshakeTimeout * 1000),
      idleTimeout: Math.round(idleTimeout * 1000),
      deflate: values.deflate!,
      tls,
      log: values.log!,
    });
    console.log(`ws-stream echo server listening on ${running.url}`);
    stopOnSignals(running, true);
    return -1; // keeps running
  }
  if (command === 'connect') {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        protocol: { type: 'string', multiple: true, default: [] },
        header: { type: 'string', multiple: true, default: [] },
        binary: { type: 'boolean', default: false },
        insecure: { type: 'boolean', default: false },
        ca: { type: 'string' },
        deflate: { type: 'boolean', default: false },
      },
    });
    if (positionals.length !== 1) {
      console.error(usage);
      return 2;
    }
    const headers: Record<string, string> = {};
    for (const h of values.header!) {
      const i = h.indexOf(':');
      if (i <= 0) {
        console.error(`ws-stream: bad header ${JSON.stringify(h)} (want 'Name: value')`);
        return 2;
      }
      headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
    }
    return runConnect({
      url: positionals[0]!,
      protocols: values.protocol!,
      headers,
      binary: values.binary!,
      insecure: values.insecure!,
      ca: values.ca,
      deflate: values.deflate!,
    });
  }
  console.error(usage);
  return command === undefined || command === '--help' || command === 'help' ? 0 : 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`ws-stream: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
