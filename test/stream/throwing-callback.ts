/**
 * Run by throwing-callback.test.ts in its own process (its uncaught exceptions are the point): a server stream over
 * TCP to a raw client peer, with callbacks that throw. Argument: `writes` (three write() calls in one turn, the
 * first callback throws; then a fourth write), `writes-signal` (the same, each write with an AbortSignal) or `reads` (two messages in one chunk; the read callback of the
 * first reads again, then throws). Prints one JSON object: the callbacks in the order they came (name and
 * result), the messages of the uncaught exceptions, and the text frames the peer received.
 */
import type { ReceivedData, WebSocketError } from '../../src/index.js';
import { ping, text } from '../support/frames.js';
import { openServerOverTcp } from '../support/open.js';

const scenario = process.argv[2] as 'writes' | 'writes-signal' | 'reads' | 'control';
const record = { callbacks: [] as string[], uncaught: [] as string[], received: [] as string[] };
process.on('uncaughtException', (err) => record.uncaught.push(err.message));

const controlCallback = (kind: string, payload: Buffer): void => {
  record.callbacks.push(`control ${kind} ${payload}`);
  throw new Error(`thrown by callback control ${kind}`);
};
const { ws, peer } = await openServerOverTcp(scenario === 'control' ? { controlCallback } : {});

/** A callback that records what it got, and throws when `throws`. */
function recorder(name: string, throws: boolean, then?: () => void) {
  return (err: WebSocketError | null, m?: unknown): void => {
    record.callbacks.push(
      `${name} ${err === null ? (m === undefined ? 'null' : (m as ReceivedData).text()) : err.code}`,
    );
    then?.();
    if (throws) throw new Error(`thrown by callback ${name}`);
  };
}

if (scenario === 'writes' || scenario === 'writes-signal') {
  // With a signal, a write's callback is called by its Completion; without, by the write queue.
  const options = scenario === 'writes-signal' ? { signal: new AbortController().signal } : {};
  for (const i of [1, 2, 3]) ws.write(String(i), options, recorder(`write ${i}`, i === 1));
  await peer.waitFrames(3);
  // A write made after the throw still goes out, and is answered.
  await new Promise<void>((resolve) => ws.write('4', recorder('write 4', false, resolve)));
  await peer.waitFrames(4);
} else if (scenario === 'control') {
  const read = new Promise<void>((resolve) => ws.read(recorder('read', false, resolve)));
  peer.send(Buffer.concat([ping('p'), text('after the ping')]));
  // As in `reads`: a stream that lost the message gives the read this one.
  process.once('uncaughtException', () => peer.send(text('lost')));
  await read;
} else {
  const second = new Promise<void>((resolve) => {
    ws.read(
      recorder('read 1', true, () => {
        ws.read(recorder('read 2', false, resolve));
      }),
    );
  });
  // One write: loopback delivers it as one chunk (or a few; the messages are read in order either way).
  peer.send(Buffer.concat([text('one'), text('two')]));
  // Once the throw has surfaced, a third message: a stream that lost 'two' gives read 2 this one (rather than
  // the run waiting for ever).
  process.once('uncaughtException', () => peer.send(text('three')));
  await second;
}
ws.write('end');
const frames = await peer.waitFrames(
  scenario === 'writes' || scenario === 'writes-signal' ? 5 : scenario === 'control' ? 2 : 1,
);
record.received = frames.map((f) => `${f.opcode === 10 ? 'pong ' : ''}${f.payload}`);
// The exceptions rethrown a tick later are counted too.
await new Promise((resolve) => setImmediate(resolve));
console.log(JSON.stringify(record));
ws.nextLayer.destroy();
peer.io.destroy();
