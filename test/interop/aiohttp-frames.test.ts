/**
 * Frames aiohttp's writer sends without checking them (it is an independent client with a public frame
 * writer): control frames at and over 125 octets, text that is not UTF-8 plain and compressed, RSV1 without
 * the extension, a continuation without a message, a reserved opcode, a DEFLATE stream that is broken, a
 * message compressed by a fresh compressor of a smaller window. The ws-stream server answers each as RFC
 * 6455 / 7692 say (a pong, an echo, or the failure's close code), and aiohttp reports what it received.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runPythonClient, startEchoServer, type Step } from './edge.js';

const PING = 0x9;
const PONG = 0xa;
const TEXT = 0x1;
const BINARY = 0x2;
const CONTINUATION = 0x0;
const hex = (b: Buffer | string): string => Buffer.from(b).toString('hex');

interface Case {
  name: string;
  deflate: boolean;
  frame: { raw: number; hex?: string; compress?: number; followed_by?: string };
  /** What aiohttp received next: [type, data]. */
  answer: [string, unknown];
  /** The error code the server's connection ended with, when it failed it. */
  error?: string;
  /** Nothing is sent after the frame but the close. */
  last?: boolean;
}

const notUtf8 = hex(Buffer.from([0x68, 0x69, 0xed, 0xa0, 0x80])); // "hi" and an encoded surrogate
const cases: Case[] = [
  {
    name: 'a ping of 125 octets is answered by a pong of the same octets',
    deflate: false,
    frame: { raw: PING, hex: hex(Buffer.alloc(125, 0x70)) },
    answer: ['PONG', hex(Buffer.alloc(125, 0x70))],
  },
  { name: 'an empty ping is answered by an empty pong', deflate: true, frame: { raw: PING }, answer: ['PONG', ''] },
  {
    name: 'an unsolicited pong is ignored: the next message is echoed',
    deflate: false,
    frame: { raw: PONG, hex: hex('unsolicited'), followed_by: 'after' },
    answer: ['TEXT', 'after'],
  },
  {
    name: 'a ping of 126 octets: 1002',
    deflate: false,
    frame: { raw: PING, hex: hex(Buffer.alloc(126, 0x70)) },
    answer: ['CLOSE', 1002],
    error: 'ERR_WS_BAD_CONTROL_SIZE',
  },
  {
    name: 'text that is not UTF-8: 1007',
    deflate: false,
    frame: { raw: TEXT, hex: notUtf8 },
    answer: ['CLOSE', 1007],
    error: 'ERR_WS_BAD_FRAME_PAYLOAD',
  },
  {
    name: 'compressed text that is not UTF-8 once inflated: 1007',
    deflate: true,
    frame: { raw: TEXT, hex: notUtf8, compress: 15 },
    answer: ['CLOSE', 1007],
    error: 'ERR_WS_BAD_FRAME_PAYLOAD',
  },
  {
    name: 'a compressed frame without permessage-deflate negotiated (RSV1): 1002',
    deflate: false,
    frame: { raw: BINARY, hex: hex('payload'), compress: 15 },
    answer: ['CLOSE', 1002],
    error: 'ERR_WS_BAD_RESERVED_BITS',
  },
  {
    name: 'a continuation frame without a message: 1002',
    deflate: false,
    frame: { raw: CONTINUATION, hex: hex('orphan') },
    answer: ['CLOSE', 1002],
    error: 'ERR_WS_BAD_CONTINUATION',
  },
  {
    name: 'a reserved data opcode (3): 1002',
    deflate: false,
    frame: { raw: 0x3, hex: hex('x') },
    answer: ['CLOSE', 1002],
    error: 'ERR_WS_BAD_OPCODE',
  },
  {
    name: 'a reserved control opcode (0xB): 1002',
    deflate: false,
    frame: { raw: 0xb },
    answer: ['CLOSE', 1002],
    error: 'ERR_WS_BAD_OPCODE',
  },
  {
    name: 'a message compressed by a fresh 9-bit compressor on a 15-bit connection is echoed',
    deflate: true,
    frame: { raw: TEXT, hex: hex('fresh window '.repeat(100)), compress: 9 },
    answer: ['TEXT', 'fresh window '.repeat(100)],
    // aiohttp's own compressor never saw this message: a later one of its messages would refer to
    // octets 1300 too near (the receiver's window has this message in it), so the connection ends here.
    last: true,
  },
];

describe('frames from aiohttp, answered by the ws-stream server', () => {
  for (const c of cases) {
    it(`${c.name}${c.deflate ? ' (permessage-deflate)' : ''}`, async () => {
      const srv = await startEchoServer({ perMessageDeflate: c.deflate });
      const record = srv.next();
      // An unsolicited pong gets no answer: the echo of the text sent after it is what comes next.
      const rest: Step[] = c.answer[0] === 'CLOSE' ? [] : c.last ? [{ close: 1000 }] : [{ send: 20 }, { close: 1000 }];
      const steps: Step[] = [{ send: 10 }, c.frame, ...rest];
      const report = await runPythonClient('aiohttp', `ws://127.0.0.1:${srv.port}/`, {
        deflate: c.deflate ? { wbits: 15 } : null,
        steps,
      });
      assert.equal(report.error, null);
      assert.equal(report.extensions ?? '', c.deflate ? 'permessage-deflate' : '');
      assert.deepEqual(report.raw?.[0], c.answer);
      const rec = await record;
      if (c.error) {
        assert.deepEqual([rec.closeInfo.error?.code, rec.closeInfo.code], [c.error, c.answer[1]]);
        assert.deepEqual(report.echoes, [true], 'the message before it was echoed');
      } else {
        assert.equal(rec.closeInfo.error, undefined);
        assert.deepEqual([rec.closeInfo.code, rec.closeInfo.wasClean], [1000, true]);
        assert.equal(report.echoes.at(-1), true, 'the connection goes on');
      }
    });
  }
});
