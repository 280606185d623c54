/**
 * How DuplexLayer tells an HTTP/2 stream's end from its reset, event by event, in the orders node
 * emits them: 'end' for the peer's END_STREAM and for its RST_STREAM alike, the reset ('aborted',
 * `rstCode`, 'close') after, or 'close' without 'end' when node drops a paused stream at once. The
 * orders are made here with a stand-in for node's Http2Stream, as node's own timing cannot be chosen
 * (test/conformance/h2-reset.test.ts checks the same over real HTTP/2 connections).
 */
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { it } from 'node:test';
import { DuplexLayer } from '../../src/stream/next-layer.js';

/**
 * What node's Http2Stream shows DuplexLayer: a Duplex with the HTTP/2 stream's state. The peer's DATA is
 * `push(bytes)`, its END_STREAM `push(null)`; what we write goes nowhere.
 */
class StandInStream extends Duplex {
  constructor() {
    super({ read() {}, write: (_chunk, _encoding, cb) => cb() });
  }
  override closed = false;
  rstCode: number | undefined = undefined;
  aborted = false;
  session = { destroyed: false };
  /** Codes our side reset it with. */
  resets: number[] = [];
  close(code: number): void {
    this.resets.push(code);
    this.closed = true;
    this.rstCode = code;
    this.destroy();
  }
  /** The peer's RST_STREAM as node takes it: closed, 'aborted' while our side is open, then destroyed. */
  resetByPeer(code: number): void {
    this.closed = true;
    this.rstCode = code;
    if (!this.writableEnded) {
      this.aborted = true;
      this.emit('aborted');
    }
    this.destroy();
  }
}

/** A layer over a stand-in stream, and what its sink heard, in order. */
function layerOver(): { stream: StandInStream; layer: DuplexLayer; heard: string[]; closed: Promise<void> } {
  const stream = new StandInStream();
  const layer = new DuplexLayer(stream);
  const heard: string[] = [];
  let onClosed!: () => void;
  const closed = new Promise<void>((resolve) => {
    onClosed = resolve;
  });
  layer.attach({
    onData: (chunk) => heard.push(`data ${chunk.toString()}`),
    onEnd: () => heard.push('end'),
    onError: (err) => heard.push(`error ${(err as { code?: string }).code}: ${err.message}`),
    onClose: () => {
      heard.push('close');
      onClosed();
    },
  });
  return { stream, layer, heard, closed };
}

it("'end', then the peer's reset before the next turn: told as the reset, never as an end", async () => {
  const { stream, heard, closed } = layerOver();
  stream.once('end', () => stream.resetByPeer(8));
  stream.push('bytes');
  stream.push(null);
  await closed;
  assert.deepEqual(heard, [
    'data bytes',
    'error ERR_HTTP2_STREAM_ERROR: Stream closed with error code NGHTTP2_CANCEL',
    'close',
  ]);
});

it("'end' with no reset behind it: told as the end on the next turn", async () => {
  const { stream, layer, heard } = layerOver();
  let atEnd: string[] = [];
  const ended = new Promise<void>((resolve) =>
    stream.once('end', () => {
      atEnd = [...heard];
      setImmediate(resolve);
    }),
  );
  stream.push('bytes');
  stream.push(null);
  await ended;
  assert.deepEqual(atEnd, ['data bytes']);
  assert.deepEqual(heard, ['data bytes', 'end']);
  layer.destroy();
});

it("a reset without 'end' (node drops a paused stream at once): the reset, then 'close'", async () => {
  const { stream, heard, closed } = layerOver();
  stream.resetByPeer(0);
  await closed;
  assert.deepEqual(heard, ['error ERR_HTTP2_STREAM_ERROR: Stream closed with error code NGHTTP2_NO_ERROR', 'close']);
});

it('RST_STREAM CANCEL after our side ended (our close frame sent, no answer): the reset', async () => {
  const { stream, layer, heard, closed } = layerOver();
  layer.end();
  await new Promise<void>((resolve) => stream.once('finish', resolve));
  stream.resetByPeer(8);
  await closed;
  assert.deepEqual(heard, ['error ERR_HTTP2_STREAM_ERROR: Stream closed with error code NGHTTP2_CANCEL', 'close']);
});

it('the whole session gone: no reset of this stream (an end, ERR_WS_EOF above)', async () => {
  const { stream, heard, closed } = layerOver();
  stream.session.destroyed = true;
  stream.resetByPeer(0);
  await closed;
  assert.deepEqual(heard, ['close']);
});

it('our own reset (destroy: RST_STREAM CANCEL) is not told as the peer’s', async () => {
  const { stream, layer, heard, closed } = layerOver();
  layer.destroy();
  await closed;
  assert.deepEqual(stream.resets, [8]);
  assert.deepEqual(heard, ['close']);
});
