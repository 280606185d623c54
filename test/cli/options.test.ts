/**
 * `ws-stream serve` with bad values of every option: it never starts (not even half-configured),
 * says on stderr which option is wrong, and exits 2. Run as a person runs it: the real CLI.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { startServer } from '../conformance/raw-client.js';
import { runRefused } from './cli-support.js';

/** [arguments, what stderr must say] */
const refused: [string[], RegExp][] = [
  // --broker: an empty value used to mean the in-memory broker, silently.
  [['--pubsub', '--broker', ''], /--broker is empty/],
  [['--pubsub', '--broker='], /--broker is empty/],
  [['--pubsub', '--broker', 'redis://'], /--broker: "redis:\/\/" names no host/],
  [['--pubsub', '--broker', 'nats://'], /--broker: "nats:\/\/" names no host/],
  [['--pubsub', '--broker', 'redis://:6379'], /--broker/],
  [['--pubsub', '--broker', 'redis://127.0.0.1:0'], /port 0/],
  [['--pubsub', '--broker', 'redis://127.0.0.1:99999'], /--broker: .* is not a URL/],
  [['--pubsub', '--broker', 'redis://127.0.0.1:6379/zero'], /database number/],
  [['--pubsub', '--broker', 'redis://127.0.0.1:6379#x'], /fragment/],
  [['--pubsub', '--broker', 'nats://127.0.0.1:4222/path'], /no path/],
  [
    ['--pubsub', '--broker', 'nats://127.0.0.1:4222,redis://127.0.0.1:6379'],
    /"redis:\/\/127\.0\.0\.1:6379" is not nats/,
  ],
  [['--pubsub', '--broker', 'nats://127.0.0.1:4222,'], /--broker/],
  [['--pubsub', '--broker', 'http://127.0.0.1:6379'], /--broker must be redis:\/\/HOST:PORT/],
  [['--pubsub', '--broker', 'redis'], /--broker must be/],
  [['--pubsub', '--broker', '127.0.0.1:6379'], /--broker must be/],
  [['--pubsub', '--broker', 'memory'], /--broker must be/],
  [['--pubsub', '--broker'], /--broker/],
  // Counts: decimal digits only, within bounds.
  [['--pubsub', '--history', ''], /--history takes a whole number from 0 to 1000000, not ""/],
  [['--pubsub', '--history', '1e3'], /--history .* not "1e3"/],
  [['--pubsub', '--history', '0x10'], /--history/],
  [['--pubsub', '--history', '2.5'], /--history/],
  [['--pubsub', '--history=-1'], /--history/],
  [['--pubsub', '--history', '1000001'], /--history/],
  [['--pubsub', '--history', '99999999999999999999'], /--history/],
  [['--pubsub', '--history', 'lots'], /--history/],
  [['--pubsub', '--workers', '0'], /--workers takes a whole number from 1 to 256, not "0"/],
  [['--pubsub', '--workers', ''], /--workers/],
  [['--pubsub', '--workers', ' 2'], /--workers/],
  [['--pubsub', '--workers', '1.5'], /--workers/],
  [['--pubsub', '--workers', '257'], /--workers/],
  [['--pubsub', '--workers', 'Infinity'], /--workers/],
  [['--pubsub', '--max-topics', '0'], /--max-topics takes a whole number from 1 to 1000000, not "0"/],
  [['--pubsub', '--max-topics', ''], /--max-topics/],
  [['--pubsub', '--max-topics', '1e3'], /--max-topics/],
  [['--port', ''], /--port takes a whole number from 0 to 65535, not ""/],
  [['--port', '65536'], /--port/],
  [['--port', '0x50'], /--port/],
  [['--port', '80.5'], /--port/],
  [['--port=-1'], /--port/],
  [['--port', 'http'], /--port/],
  [['--pubsub', '--port', '1e3'], /--port/],
  // Timeouts: seconds, 0 or more, that a timer can hold.
  [['--handshake-timeout', ''], /--handshake-timeout takes seconds from 0 to 2147483/],
  [['--handshake-timeout', 'abc'], /--handshake-timeout/],
  [['--handshake-timeout=-1'], /--handshake-timeout/],
  [['--idle-timeout', 'Infinity'], /--idle-timeout/],
  [['--idle-timeout', '1e9'], /--idle-timeout/],
  [['--idle-timeout', '2147484'], /--idle-timeout/],
  [['--pubsub', '--idle-timeout', 'NaN'], /--idle-timeout/],
  [['--pubsub', '--handshake-timeout', '3000000'], /--handshake-timeout/],
  // Host, protocols, TLS files.
  [['--host', ''], /--host/],
  [['--host', ' 127.0.0.1'], /--host/],
  [['--protocols', ''], /--protocols: "" is not a subprotocol name/],
  [['--protocols', ',,'], /--protocols/],
  [['--protocols', 'chat,'], /--protocols/],
  [['--protocols', 'a b'], /--protocols: "a b"/],
  [['--protocols', 'chat,chat'], /twice/],
  [['--cert', 'cert.pem'], /--cert and --key go together/],
  [['--cert', '', '--key', ''], /file names/],
  // Options of the other mode are refused, not ignored.
  [['--history', '5'], /--history goes with --pubsub/],
  [['--workers', '0'], /--workers takes a whole number from 1 to 256, not "0"/],
  [['--broker', 'redis://127.0.0.1:6379'], /--broker goes with --pubsub/],
  [['--max-topics', '10'], /--max-topics goes with --pubsub/],
  [['--pubsub', '--protocols', 'chat'], /--protocols is an option of the echo server/],
  [['--pubsub', '--tls'], /--tls is an option of the echo server/],
  [['--pubsub', '--log'], /--log/],
  // Unknown options, stray arguments, flags given values.
  [['--bogus'], /Unknown option '--bogus'/],
  [['--pubsub', 'extra'], /Unexpected argument 'extra'/],
  [['--pubsub=yes'], /--pubsub/],
  [['--deflate=no'], /--deflate/],
];

describe('ws-stream serve refuses a bad command line: stderr names the option, exit code 2, nothing listens', () => {
  for (const [args, message] of refused) {
    it(JSON.stringify(args), async () => {
      const r = await runRefused(args);
      assert.equal(r.code, 2, `exit code; stderr: ${r.err}`);
      assert.match(r.err, message);
      assert.match(r.err, /^ws-stream serve: /);
      assert.equal(r.out, '', 'nothing on stdout');
    });
  }
});

describe('ws-stream serve --broker with a URL that does not decode: exit 2, one line naming --broker, no secret', () => {
  for (const url of [
    'nats://us%zzer:secret-1@127.0.0.1:4222',
    'nats://secret-1%zz@127.0.0.1:4222',
    'nats://127.0.0.1:4223,nats://u:secret-1%zz@127.0.0.1:4222',
    'redis://:secret-1%zz@127.0.0.1:6379',
    'redis://u%zz:secret-1@127.0.0.1:6379',
    'rediss://u:secret-1%E9@127.0.0.1:6379',
    'redis://127.0.0.1%zz:6379',
  ]) {
    it(url, async () => {
      const r = await runRefused(['--pubsub', '--broker', url]);
      assert.equal(r.code, 2, `exit code; stderr: ${r.err}`);
      assert.match(r.err, /^ws-stream serve: --broker: "[^"]+": bad percent-encoding/);
      assert.doesNotMatch(r.err, /secret-1/);
      assert.equal(r.out, '');
    });
  }
});

describe('ws-stream serve fails fast when it cannot start', () => {
  let blocker: net.Server;
  let port = 0;
  after(() => blocker?.close());

  it('a port already taken: exit 1 with the reason, in echo mode, pub/sub mode and with --workers 2', async () => {
    blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    port = (blocker.address() as net.AddressInfo).port;
    for (const mode of [[], ['--pubsub'], ['--pubsub', '--workers', '2']]) {
      const r = await runRefused([...mode, '--port', String(port)]);
      assert.equal(r.code, 1, `${mode.join(' ')}: exit code; stderr: ${r.err}`);
      assert.match(r.err, /EADDRINUSE/, mode.join(' '));
    }
  });

  it('a host that does not resolve: exit 1 with the reason', async () => {
    const r = await runRefused(['--pubsub', '--host', 'no-such-host.invalid']);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /ENOTFOUND|EAI_AGAIN/);
  });

  it('a certificate file that does not exist, is no PEM, or does not match the key: exit 1', async () => {
    const fixtures = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
    const cases: [string, string, RegExp][] = [
      ['/nonexistent/cert.pem', '/nonexistent/key.pem', /\/nonexistent\/cert\.pem/],
      [fixtures, fixtures, /EISDIR/],
      [`${fixtures}cert.pem`, `${fixtures}cert.pem`, /--cert\/--key: /],
      [`${fixtures}key.pem`, `${fixtures}key.pem`, /--cert\/--key: /],
    ];
    for (const [cert, key, message] of cases) {
      const r = await runRefused(['--cert', cert, '--key', key]);
      assert.equal(r.code, 1, r.err);
      assert.match(r.err, message);
    }
  });
});

describe('ws-stream serve takes good values as given', () => {
  it('decimal seconds, a broker with a database number, several NATS servers, and the limits themselves', async () => {
    for (const args of [
      ['--handshake-timeout', '0.5', '--idle-timeout', '2147483'],
      ['--protocols', 'chat, superchat'],
      ['--pubsub', '--history', '0', '--max-topics', '1'],
      ['--pubsub', '--history', '1000000', '--max-topics', '1000000'],
      ['--pubsub', '--history-bytes', '0'],
      ['--pubsub', '--history-bytes', '4294967296', '--workers', '2'],
      // Brokers that are not there: the server starts and connects in the background (doc/pubsub.md).
      ['--pubsub', '--broker', 'redis://127.0.0.1:1/2', '--quiet'],
      ['--pubsub', '--broker', 'nats://127.0.0.1:1, nats://localhost:2', '--quiet'],
    ]) {
      const server = await startServer(args);
      try {
        const res = await fetch(`http://127.0.0.1:${server.port}/`);
        assert.equal(res.status, 200, args.join(' '));
        await res.text();
      } finally {
        await server.stop();
      }
    }
  });
});
