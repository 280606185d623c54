/**
 * `ws-stream serve` with bad values of every option: it never starts (not even half-configured),
 * says on stderr which option is wrong, and exits 2. Run as a person runs it: the real CLI.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { startServer } from '../conformance/raw-client.js';
import { runRefused, runToExit as run } from './cli-support.js';

/** Each case is its own short-lived process: a few run at once (the file took ~50 s one by one). */
const CHILDREN_AT_ONCE = { concurrency: 4 };

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
  [['--pubsub', '--broker', 'redis://127.0.0.1:6379/0?db=1'], /--broker: .*: a Redis URL has no query/],
  [['--pubsub', '--broker', 'nats://127.0.0.1:4222?x=1'], /--broker: .*: a NATS URL has no query/],
  // (NatsBroker would be given it as one TLS setting for all: plain TCP to the tls:// server.)
  [
    ['--pubsub', '--broker', 'nats://127.0.0.1:4222,TLS://127.0.0.1:4223'],
    /--broker: .* mixes nats:\/\/ and tls:\/\/ servers/,
  ],
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
  // --broker-timeout: seconds, more than 0 (the broker must be given some time), with --broker only.
  [
    ['--pubsub', '--broker', 'redis://h:1', '--broker-timeout', '0'],
    /--broker-timeout takes seconds over 0, at most 2147483, not "0"/,
  ],
  [['--pubsub', '--broker', 'redis://h:1', '--broker-timeout', '0.000'], /--broker-timeout .* not "0.000"/],
  [['--pubsub', '--broker', 'nats://h:1', '--broker-timeout', ''], /--broker-timeout .* not ""/],
  [['--pubsub', '--broker', 'nats://h:1', '--broker-timeout', '-1'], /--broker-timeout .* not "-1"/],
  [['--pubsub', '--broker', 'redis://h:1', '--broker-timeout', '1e3'], /--broker-timeout/],
  [['--pubsub', '--broker', 'redis://h:1', '--broker-timeout', '5s'], /--broker-timeout/],
  [['--pubsub', '--broker', 'redis://h:1', '--broker-timeout', '2147484'], /--broker-timeout/],
  [
    ['--pubsub', '--broker', 'redis://h:1', '--broker-timeout', '1', '--broker-timeout', '2'],
    /--broker-timeout is given twice/,
  ],
  [['--pubsub', '--broker-timeout', '10'], /--broker-timeout goes with --broker/],
  [['--pubsub', '--workers', '2', '--broker-timeout', '10'], /--broker-timeout goes with --broker/],
  [['--broker-timeout', '10'], /--broker-timeout goes with --pubsub/],
  // --max-publish-bytes-in-flight: a count, at least 1 (with 0 no publish would ever be taken).
  [
    ['--pubsub', '--max-publish-bytes-in-flight', '0'],
    /--max-publish-bytes-in-flight takes a whole number from 1 to 1099511627776, not "0"/,
  ],
  [['--pubsub', '--max-publish-bytes-in-flight', ''], /--max-publish-bytes-in-flight/],
  [['--pubsub', '--max-publish-bytes-in-flight', '64MiB'], /--max-publish-bytes-in-flight/],
  [['--pubsub', '--max-publish-bytes-in-flight', '1099511627777'], /--max-publish-bytes-in-flight/],
  [['--max-publish-bytes-in-flight', '1024'], /--max-publish-bytes-in-flight goes with --pubsub/],
  // --max-held-bytes: a count, at least 1, with --broker only (the in-memory broker holds nothing back).
  [
    ['--pubsub', '--broker', 'redis://h:1', '--max-held-bytes', '0'],
    /--max-held-bytes takes a whole number from 1 to 4294967296, not "0"/,
  ],
  [['--pubsub', '--broker', 'nats://h:1', '--max-held-bytes', ''], /--max-held-bytes .* not ""/],
  [['--pubsub', '--broker', 'redis://h:1', '--max-held-bytes', '4MiB'], /--max-held-bytes .* not "4MiB"/],
  [['--pubsub', '--broker', 'redis://h:1', '--max-held-bytes', '4294967297'], /--max-held-bytes/],
  [['--pubsub', '--broker', 'redis://h:1', '--max-held-bytes', '-1'], /--max-held-bytes .* not "-1"/],
  [
    ['--pubsub', '--broker', 'redis://h:1', '--max-held-bytes', '1', '--max-held-bytes', '2'],
    /--max-held-bytes is given twice/,
  ],
  [['--pubsub', '--max-held-bytes', '1024'], /--max-held-bytes goes with --broker/],
  [['--pubsub', '--workers', '2', '--max-held-bytes', '1024'], /--max-held-bytes goes with --broker/],
  [['--max-held-bytes', '1024'], /--max-held-bytes goes with --pubsub/],
  // --max-recovery-bytes: a count, at least 1 (with 0 no recovery would ever be read).
  [
    ['--pubsub', '--broker', 'redis://h:1', '--max-recovery-bytes', '0'],
    /--max-recovery-bytes takes a whole number from 1 to 1099511627776, not "0"/,
  ],
  [['--pubsub', '--max-recovery-bytes', '256MiB'], /--max-recovery-bytes .* not "256MiB"/],
  [['--pubsub', '--max-recovery-bytes', '1099511627777'], /--max-recovery-bytes/],
  [['--max-recovery-bytes', '1024'], /--max-recovery-bytes goes with --pubsub/],
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
  // (either one empty: a usage error, exit 2, not the file's ENOENT at start, exit 1)
  [['--cert', '', '--key', 'key.pem'], /--cert and --key take file names/],
  [['--cert', 'cert.pem', '--key', ''], /--cert and --key take file names/],
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
  [['--pubsub', 'extra'], /Unexpected argument 'extra' \(--help lists the options\)$/m],
  [['--pubsub', 'a. B'], /Unexpected argument 'a\. B' \(--help lists the options\)$/m],
  [['--pubsub=yes'], /--pubsub/],
  [['--deflate=no'], /--deflate/],
  [['--quiet=1'], /--quiet/],
  [['--max-message-size', '5'], /Unknown option '--max-message-size'/],
  [['-p', '1'], /Unknown option '-p'/],
  [['--', '--port', '1'], /Unexpected argument '--port'/],
  // After `--`, `--help` is an argument like any other, not a request for help.
  [['--', '--help'], /Unexpected argument '--help'/],
  // A value that starts with '-' is the option's value, refused by its own check (not "ambiguous").
  [['--port', '-1'], /--port takes a whole number from 0 to 65535, not "-1"/],
  [['--port', '70000'], /--port takes a whole number from 0 to 65535, not "70000"/],
  [['--pubsub', '--history', '-1'], /--history takes a whole number from 0 to 1000000, not "-1"/],
  [['--pubsub', '--history', 'abc'], /--history .* not "abc"/],
  [['--pubsub', '--history-total-bytes', '-5'], /--history-total-bytes .* not "-5"/],
  [['--handshake-timeout', '-0.5'], /--handshake-timeout takes seconds .* not "-0.5"/],
  [['--idle-timeout', '.5'], /--idle-timeout .* not ".5"/],
  [['--handshake-timeout', '5.'], /--handshake-timeout takes seconds .* not "5\."/],
  [['--host', '-x'], /--host takes a host name or IP address, not "-x"/],
  [['--host', 'a b'], /--host .* not "a b"/],
  // Brackets hold an IPv6 address only (as in a URL); an IPv6 zone fits in no ws:// URL.
  [['--host', '[127.0.0.1]'], /--host: brackets hold an IPv6 address only, not "\[127\.0\.0\.1\]"/],
  [['--host', '[localhost]'], /--host: brackets hold an IPv6 address only/],
  [['--host', '[::1'], /--host takes a host name or IP address, not "\[::1"/],
  [['--host', '[[::1]]'], /--host: brackets/],
  [['--host', 'fe80::1%lo'], /--host: "fe80::1%lo" has an IPv6 zone/],
  [['--host', '[fe80::1%25lo]'], /--host: .* has an IPv6 zone/],
  // Leading zeros: `08` is no port (8? octal?), in every number option.
  [['--port', '08'], /--port takes a whole number from 0 to 65535, without a leading zero, not "08"/],
  [['--port', '0080'], /--port .* without a leading zero, not "0080"/],
  [['--port', '00'], /--port .* not "00"/],
  [['--pubsub', '--history', '010'], /--history .* without a leading zero, not "010"/],
  [['--pubsub', '--workers', '02'], /--workers .* not "02"/],
  [['--idle-timeout', '05'], /--idle-timeout takes seconds .* without a leading zero, not "05"/],
  [['--handshake-timeout', '00.5'], /--handshake-timeout .* not "00.5"/],
  [['--port', '+80'], /--port .* not "\+80"/],
  [['--port', '80 '], /--port .* not "80 "/],
  // Missing values: at the end, or another option where the value should be.
  [['--port'], /--port needs a value/],
  [['--port', '--quiet'], /--port needs a value/],
  [['--pubsub', '--history', '--workers', '2'], /--history needs a value/],
  [['--cert', '--key', 'k'], /--cert needs a value/],
  [['--port', '--'], /--port needs a value/],
  // An option given twice: which one was meant?
  [['--port', '1', '--port', '2'], /--port is given twice/],
  [['--pubsub', '--broker', 'redis://h:1', '--broker=redis://h:2'], /--broker is given twice/],
  [['--pubsub', '--workers', '2', '--workers', '2'], /--workers is given twice/],
];

describe(
  'ws-stream serve refuses a bad command line: stderr names the option, exit code 2, nothing listens',
  CHILDREN_AT_ONCE,
  () => {
    for (const [args, message] of refused) {
      it(JSON.stringify(args), async () => {
        const r = await runRefused(args);
        assert.equal(r.code, 2, `exit code; stderr: ${r.err}`);
        assert.match(r.err, message);
        assert.match(r.err, /^ws-stream serve: [^\n]+\n$/, 'one line');
        assert.equal(r.out, '', 'nothing on stdout');
      });
    }
  },
);

describe(
  'ws-stream serve --broker with a URL that does not decode: exit 2, one line naming --broker, no secret',
  CHILDREN_AT_ONCE,
  () => {
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
        assert.match(r.err, /^ws-stream serve: --broker: "[^"]+": bad percent-encoding[^\n]*\n$/);
        assert.doesNotMatch(r.err, /secret-1/);
        assert.equal(r.out, '');
      });
    }
  },
);

/** [arguments after `connect`, what stderr must say]; a URL, where there is one, no server listens on. */
const connectRefused: [string[], RegExp][] = [
  [[], /give the URL to connect to/],
  [['ws://127.0.0.1:1', 'ws://127.0.0.1:2'], /one URL, not 2/],
  [['ws://127.0.0.1:1', '--', '--binary'], /one URL, not 2/],
  [['foo'], /"foo" is not a ws:\/\/ or wss:\/\/ URL/],
  [['ftp://127.0.0.1:1/'], /"ftp:\/\/127\.0\.0\.1:1\/" is not a ws:\/\/ or wss:\/\/ URL/],
  [['ws://127.0.0.1:1/#x'], /no fragment/],
  // An empty fragment too (its URL's `hash` is ''): a usage error, not connect()'s ERR_WS_INVALID_ARGUMENT (exit 1).
  [['ws://127.0.0.1:1/#'], /"ws:\/\/127\.0\.0\.1:1\/#": a WebSocket URL has no fragment/],
  [['--', '--help'], /"--help" is not a ws:\/\/ or wss:\/\/ URL/],
  [['--bogus', 'ws://127.0.0.1:1'], /Unknown option '--bogus'/],
  [['ws://127.0.0.1:1', '--binary=yes'], /Option '--binary' does not take an argument/],
  [['ws://127.0.0.1:1', '--protocol'], /--protocol needs a value/],
  [['--protocol', 'ws://127.0.0.1:1'], /give the URL to connect to/],
  [['ws://127.0.0.1:1', '--protocol', ''], /--protocol: "" is not a subprotocol name/],
  [['ws://127.0.0.1:1', '--protocol', 'a b'], /--protocol: "a b" is not a subprotocol name/],
  [['ws://127.0.0.1:1', '--protocol', 'chat', '--protocol', 'chat'], /--protocol names a subprotocol twice/],
  [['ws://127.0.0.1:1', '--header', 'bad'], /--header: "bad" is not 'Name: value'/],
  [['ws://127.0.0.1:1', '--header', ': v'], /--header: ": v" is not 'Name: value'/],
  [['ws://127.0.0.1:1', '--header', 'Na me: v'], /--header: "Na me: v" is not 'Name: value'/],
  [['ws://127.0.0.1:1', '--header', 'X-A: a\rb'], /--header X-A: a value has no CR, LF, NUL/],
  [['ws://127.0.0.1:1', '--header', 'X-A: a\u010d\u010aX-Injected: 1'], /over U\+00FF/],
  [['ws://127.0.0.1:1', '--header', 'upgrade: h2c'], /--header upgrade: the handshake sets it/],
  [['ws://127.0.0.1:1', '--header', 'Sec-WebSocket-Protocol: chat'], /use --protocol/],
  [['ws://127.0.0.1:1', '--header', 'Host: example.com'], /--header Host/],
  [['ws://127.0.0.1:1', '--ca'], /--ca needs a value/],
  [['ws://127.0.0.1:1', '--ca', ''], /--ca takes a file name/],
  [['ws://127.0.0.1:1', '--ca', 'a.pem', '--ca', 'b.pem'], /--ca is given twice/],
];

describe(
  'ws-stream connect refuses a bad command line: one line naming what is wrong, exit code 2',
  CHILDREN_AT_ONCE,
  () => {
    for (const [args, message] of connectRefused) {
      it(JSON.stringify(args), async () => {
        const r = await run(['connect', ...args]);
        assert.equal(r.code, 2, `exit code; stderr: ${r.err}`);
        assert.match(r.err, message);
        assert.match(r.err, /^ws-stream connect: [^\n]+\n$/, 'one line');
        assert.equal(r.out, '');
      });
    }

    it('a --ca file that cannot be read: exit 1, one line naming --ca', async () => {
      const r = await run(['connect', 'ws://127.0.0.1:1', '--ca', '/nonexistent/ca.pem']);
      assert.equal(r.code, 1, r.err);
      assert.match(r.err, /^ws-stream connect: --ca: ENOENT[^\n]*\/nonexistent\/ca\.pem[^\n]*\n$/);
    });
  },
);

describe('ws-stream without a command, with an unknown one, or asking for help', () => {
  it('--help, -h, help, serve --help, connect --help: the usage on stdout, exit 0', async () => {
    for (const args of [['--help'], ['-h'], ['help'], ['serve', '--help'], ['connect', '--help']]) {
      const r = await run(args);
      assert.equal(r.code, 0, args.join(' '));
      assert.match(r.out, /^usage:\n {2}ws-stream serve /, args.join(' '));
      assert.match(r.out, /\n {2}ws-stream connect URL /, args.join(' '));
      assert.equal(r.err, '', args.join(' '));
    }
  });

  it("the usage names every option of the README's command table, and explains each of serve --pubsub's own", async () => {
    const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
    const table = readme.slice(readme.indexOf('### Command line'), readme.indexOf('#### `ws-stream serve` against'));
    const optionsOf = (row: string): string[] =>
      [...row.split(' |')[0]!.matchAll(/\[(--[a-z][a-z0-9-]*)/g)].map((m) => m[1]!);
    const rows = table.split('\n').filter((line) => line.startsWith('| `npx ws-stream '));
    const all = new Set(rows.flatMap(optionsOf));
    const echo = new Set(optionsOf(rows.find((row) => row.startsWith('| `npx ws-stream serve [')) ?? ''));
    const pubsubOnly = optionsOf(rows.find((row) => row.startsWith('| `npx ws-stream serve --pubsub')) ?? '').filter(
      (name) => !echo.has(name),
    );
    assert.ok(all.size > 20 && pubsubOnly.includes('--recovery-stall-timeout'), [...all].join(' '));
    const r = await run(['--help']);
    for (const name of all) assert.ok(r.out.includes(`[${name}`), `${name} in the synopsis`);
    for (const name of pubsubOnly) assert.ok(r.out.includes(`${name}:`), `${name} explained`);
  });

  it('help serve, help connect: the usage, exit 0; words after --help, help, --version, -v or version: one line, exit 2', async () => {
    for (const args of [
      ['help', 'serve'],
      ['--help', 'connect'],
    ]) {
      const r = await run(args);
      assert.equal(r.code, 0, args.join(' '));
      assert.match(r.out, /^usage:\n/, args.join(' '));
    }
    for (const [args, message] of [
      [['--help', 'extra'], /^ws-stream --help: unexpected "extra" \(ws-stream --help shows the usage\)\n$/],
      [['help', 'serve', 'now'], /^ws-stream help: unexpected "serve now"/],
      [['--version', 'extra'], /^ws-stream --version takes no arguments, not "extra"\n$/],
      [['-v', '--bogus'], /^ws-stream -v takes no arguments, not "--bogus"\n$/],
      [['version', 'x'], /^ws-stream version takes no arguments/],
    ] as const) {
      const r = await run([...args]);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.err, message);
      assert.equal(r.out, '', args.join(' '));
    }
  });

  it('--version, -v, version: the package.json version on stdout, exit 0', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    assert.match(version, /^\d+\.\d+\.\d+/);
    for (const command of ['--version', '-v', 'version']) {
      const r = await run([command]);
      assert.equal(r.code, 0, command);
      assert.equal(r.out, `${version}\n`, command);
      assert.equal(r.err, '', command);
    }
  });

  it('no command: the usage on stderr, exit 2; an unknown command: one line naming it, exit 2', async () => {
    const none = await run([]);
    assert.equal(none.code, 2);
    assert.match(none.err, /^usage:\n/);
    assert.equal(none.out, '');
    for (const command of ['foo', '--versions', 'server']) {
      const r = await run([command]);
      assert.equal(r.code, 2, command);
      assert.equal(
        r.err,
        `ws-stream: unknown command ${JSON.stringify(command)}: serve or connect (ws-stream --help shows the usage)\n`,
      );
      assert.equal(r.out, '');
    }
  });
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
      ['/nonexistent/cert.pem', '/nonexistent/key.pem', /--cert: ENOENT[^\n]*\/nonexistent\/cert\.pem/],
      [fixtures, fixtures, /--cert: \S+ is a directory, not a certificate file/],
      [`${fixtures}cert.pem`, `${fixtures}cert.pem`, /--key: \S+cert\.pem holds no PEM private key/],
      [`${fixtures}key.pem`, `${fixtures}key.pem`, /--cert: \S+key\.pem holds no PEM certificate/],
      [`${fixtures}cert.pem`, '/nonexistent/key.pem', /--key: ENOENT/],
    ];
    for (const [cert, key, message] of cases) {
      const r = await runRefused(['--cert', cert, '--key', key]);
      assert.equal(r.code, 1, r.err);
      assert.match(r.err, message);
      assert.match(r.err, /^ws-stream serve: [^\n]+\n$/, 'one line');
    }
  });

  it('a certificate, key or CA "file" that is a device, a FIFO or over 1 MiB is refused at once, not read without end: exit 1', {
    timeout: 120_000,
  }, async (t) => {
    const fixtures = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
    const dir = mkdtempSync(join(tmpdir(), 'ws-stream-pem-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const fifo = join(dir, 'cert.fifo');
    execFileSync('mkfifo', [fifo]); // nobody writes to it: opening it to read would wait forever
    const huge = join(dir, 'huge.pem');
    writeFileSync(huge, readFileSync(`${fixtures}cert.pem`));
    truncateSync(huge, 2 * 1024 * 1024); // the certificate, then zeros: over the limit
    const largest = join(dir, 'largest.pem');
    writeFileSync(largest, readFileSync(`${fixtures}cert.pem`));
    truncateSync(largest, 1024 * 1024); // the certificate, then zeros: exactly the limit, taken
    const cases: [string[], RegExp][] = [
      [['--cert', '/dev/zero', '--key', `${fixtures}key.pem`], /--cert: \/dev\/zero is not a regular file/],
      [['--cert', `${fixtures}cert.pem`, '--key', '/dev/zero'], /--key: \/dev\/zero is not a regular file/],
      [['--cert', fifo, '--key', `${fixtures}key.pem`], /--cert: \S+cert\.fifo is not a regular file/],
      [['--cert', huge, '--key', `${fixtures}key.pem`], /--cert: \S+huge\.pem is over 1048576 bytes/],
    ];
    for (const [args, message] of cases) {
      const r = await runRefused(args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, message);
      assert.match(r.err, /^ws-stream serve: [^\n]+\n$/, 'one line');
    }
    for (const [ca, message] of [
      ['/dev/zero', /--ca: \/dev\/zero is not a regular file/],
      [fifo, /--ca: \S+ is not a regular file/],
      [huge, /--ca: \S+ is over 1048576 bytes/],
      [`${fixtures}key.pem`, /--ca: \S+ holds no PEM certificate/],
      [fixtures, /--ca: \S+ is a directory/],
    ] as const) {
      const r = await run(['connect', 'ws://127.0.0.1:1', '--ca', ca]);
      assert.equal(r.code, 1, `--ca ${ca}: ${r.err}`);
      assert.match(r.err, message);
      assert.match(r.err, /^ws-stream connect: [^\n]+\n$/, 'one line');
    }
    // (read, then the connection is what fails: nobody listens on port 1)
    const r = await run(['connect', 'ws://127.0.0.1:1', '--ca', largest]);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /^ws-stream: [^\n]*ECONNREFUSED/);
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
      ['--pubsub', '--broker', 'redis://127.0.0.1:1/2', '--quiet', '--broker-timeout', '0.001'],
      ['--pubsub', '--broker', 'nats://127.0.0.1:1, nats://localhost:2', '--quiet', '--broker-timeout', '2147483'],
      ['--pubsub', '--max-publish-bytes-in-flight', '1'],
      ['--pubsub', '--max-publish-bytes-in-flight', '1099511627776', '--workers', '2'],
      ['--pubsub', '--broker', 'redis://127.0.0.1:1', '--quiet', '--max-held-bytes', '1'],
      ['--pubsub', '--broker', 'nats://127.0.0.1:1', '--quiet', '--max-held-bytes', '4294967296', '--workers', '2'],
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
