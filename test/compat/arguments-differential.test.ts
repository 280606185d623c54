/**
 * Seeded random differential testing of the `ws` API's arguments (arguments-differential-support.ts): each
 * script calls one entry point of ws and of ws-stream/ws with hostile values, probes the socket after it, and the
 * traces (what was thrown or returned, the events and callbacks that followed, what escaped to the process) must be
 * equal. What doc/ws-compat.md lists under "What differs" is filtered out below, each filter naming its bullet.
 *
 * WSARGS_SEED=N replays one script; WSARGS_BASE and WSARGS_COUNT choose another range (default seeds 1 to 1500).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeScript, generate, POOL, run, type Script, type Trace } from './arguments-differential-support.js';
import { compat, ws } from './support.js';

const one = process.env.WSARGS_SEED;
const base = one !== undefined ? Number(one) : Number(process.env.WSARGS_BASE ?? 1);
const count = one !== undefined ? 1 : Number(process.env.WSARGS_COUNT ?? 1500);
console.log(`arguments differential: seeds ${base} to ${base + count - 1} (WSARGS_SEED=N replays one)`);

/**
 * Scripts not run on ws, with the bullet that says why: where ours refuses at once what ws takes and then throws
 * on later (out of a socket's event: the process goes down) or breaks the connection with. Ours must have thrown
 * a TypeError (or the core's ERR_WS_INVALID_ARGUMENT) from the call, and nothing escaped.
 */
function notOnWs(script: Script, ours: Trace): string | null {
  const r = ours.result;
  // "A client's maxPendingAutoPongs with no number form": both constructors throw, but ws's request is on its way
  // by then, and its failure is an 'error' nobody listens to.
  if (script.k === 'client' && script.option === 'maxPendingAutoPongs' && r.startsWith('threw:'))
    return "A client's maxPendingAutoPongs with no number form";
  // "A send/ping/pong callback that is not a function": ws throws from the middle of its frame write.
  if (/^threw:TypeError:ERR_INVALID_ARG_TYPE:The "cb" argument must be of type function/.test(r))
    return 'A send/ping/pong callback that is not a function';
  // "Server options that cannot be called": ws throws at the first upgrade.
  if (/^threw:TypeError:ERR_INVALID_ARG_TYPE:The "(verifyClient|handleProtocols|WebSocket)" option must be /.test(r))
    return 'Server options that cannot be called';
  // "Invalid permessage-deflate options": maxPayload or maxFragments with no number form (ws's server throws out
  // of its first upgrade, its client out of the 101's 'upgrade' event, or from the constructor with V8's message);
  // a closeTimeout that is not an integer of milliseconds (ws gives it to setTimeout).
  if (/^threw:TypeError::(maxPayload|maxFragments) must be a number$/.test(r))
    return 'Invalid permessage-deflate options';
  if (/^threw:WebSocketError:ERR_WS_INVALID_ARGUMENT:invalid argument: closeTimeout must be /.test(r))
    return 'Invalid permessage-deflate options';
  // The same bullet: a server's perMessageDeflate is read by its constructor (ws reads it at each upgrade).
  if (script.k === 'server' && script.option === 'perMessageDeflate' && r.startsWith('threw:'))
    return 'Invalid permessage-deflate options';
  // "An event listener that cannot be called": ws keeps it and throws at the next event.
  if (/^threw:TypeError:ERR_INVALID_ARG_TYPE:The "listener" argument must be a function or an object/.test(r))
    return 'An event listener that cannot be called';
  return null;
}

/**
 * Scripts whose differences are documented, run on ours only: the bullet, or null. ping/pong with a falsy
 * `mask` given: "Accepted and ignored" (the `mask` option: a client always masks; ws's client sends the frame
 * unmasked, and the server fails the connection).
 */
function documented(s: Script): string | null {
  // "An event listener that cannot be called": no listener (null, undefined) for a type ws knows is none here;
  // ws keeps it and throws at the next event.
  if (s.k === 'method' && s.method === 'addEventListener' && s.args.length >= 2) {
    const type = POOL[s.args[0]!]!.make(() => {});
    const listener = POOL[s.args[1]!]!.make(() => {});
    if (type === 'message' && (listener === null || listener === undefined))
      return 'An event listener that cannot be called';
  }
  if (s.k === 'method' && (s.method === 'ping' || s.method === 'pong') && s.args.length >= 2) {
    const mask = POOL[s.args[1]!]!.make(() => {});
    if (mask !== undefined && !mask) return 'Accepted and ignored';
  }
  return null;
}

describe('arguments differential: ws-stream/ws against ws on hostile arguments', () => {
  for (let seed = base; seed < base + count; seed++) {
    const script = generate(seed);
    it(describeScript(script), { timeout: 60_000 }, async () => {
      const ours = await run(script, compat);
      const bullet = documented(script) ?? notOnWs(script, ours);
      if (bullet) {
        assert.deepEqual(ours.escaped, [], bullet);
        return;
      }
      const reference = await run(generate(seed), ws);
      assert.deepEqual(ours, reference, `ws-stream/ws differs from ws (replay: WSARGS_SEED=${seed})`);
    });
  }
});

describe('arguments differential: the comparison sees a difference', () => {
  /** ws-stream/ws whose send() swallows what it throws. */
  class QuietSend extends compat.WebSocket {
    send(...args: unknown[]): void {
      try {
        super.send(...args);
      } catch {}
    }
  }
  const broken = { ...compat, WebSocket: QuietSend };

  it('a send() that swallows its throws differs from ws on some of seeds 1 to 300', async () => {
    const differing: number[] = [];
    for (let seed = 1; seed <= 300; seed++) {
      const script = generate(seed);
      if (script.k !== 'method' || script.method !== 'send') continue;
      if (documented(script) ?? notOnWs(script, await run(script, compat))) continue;
      const trace = await run(script, broken);
      try {
        assert.deepEqual(trace, await run(generate(seed), ws));
      } catch {
        differing.push(seed);
      }
    }
    assert.ok(differing.length > 0, 'no seed told the broken send from ws');
  });
});
