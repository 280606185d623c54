/** Builds raw frames byte by byte, independently of the library's sender, for tests. */

/**
 * The default mask keys: a fixed sequence, different for each frame and never all zero, so that a
 * failure replays byte for byte (a property test passes keys from its seeded generator instead).
 */
let keyCount = 0;
function nextKey(): Buffer {
  const n = ++keyCount;
  return Buffer.from([(n * 37 + 1) & 0xff, (n * 101 + 7) & 0xff, (n * 13 + 0x5a) & 0xff, (n * 211 + 0xc3) & 0xff]);
}

export interface RawFrame {
  opcode: number;
  payload?: Uint8Array | string;
  fin?: boolean;
  rsv?: number; // 3 bits: rsv1 = 4, rsv2 = 2, rsv3 = 1
  /** Mask with this key, or the next key of a fixed sequence when true. Default true (a client's frame). */
  mask?: boolean | Uint8Array;
  /** Force the 16- or 64-bit length form (to test non-minimal lengths). */
  lengthForm?: 7 | 16 | 64;
}

export function frame(f: RawFrame): Buffer {
  const payload = typeof f.payload === 'string' ? Buffer.from(f.payload) : Buffer.from(f.payload ?? []);
  const len = payload.length;
  const form = f.lengthForm ?? (len < 126 ? 7 : len < 65536 ? 16 : 64);
  const mask = f.mask ?? true;
  const key = mask === false ? null : mask === true ? nextKey() : Buffer.from(mask);
  const head: number[] = [((f.fin ?? true) ? 0x80 : 0) | ((f.rsv ?? 0) << 4) | f.opcode];
  const m = key ? 0x80 : 0;
  if (form === 7) head.push(m | len);
  else if (form === 16) head.push(m | 126, len >> 8, len & 0xff);
  else {
    head.push(m | 127);
    const hi = Math.floor(len / 2 ** 32);
    const lo = len >>> 0;
    head.push(
      hi >>> 24,
      (hi >> 16) & 0xff,
      (hi >> 8) & 0xff,
      hi & 0xff,
      lo >>> 24,
      (lo >> 16) & 0xff,
      (lo >> 8) & 0xff,
      lo & 0xff,
    );
  }
  const body = Buffer.from(payload);
  if (key) {
    head.push(...key);
    for (let i = 0; i < body.length; i++) body[i] = body[i]! ^ key[i & 3]!;
  }
  return Buffer.concat([Buffer.from(head), body]);
}

export const text = (s: string | Uint8Array, o: Partial<RawFrame> = {}): Buffer =>
  frame({ opcode: 1, payload: s, ...o });
export const binary = (b: Uint8Array, o: Partial<RawFrame> = {}): Buffer => frame({ opcode: 2, payload: b, ...o });
export const cont = (b: Uint8Array | string, o: Partial<RawFrame> = {}): Buffer =>
  frame({ opcode: 0, payload: b, ...o });
export const ping = (b: Uint8Array | string = '', o: Partial<RawFrame> = {}): Buffer =>
  frame({ opcode: 9, payload: b, ...o });
export const pong = (b: Uint8Array | string = '', o: Partial<RawFrame> = {}): Buffer =>
  frame({ opcode: 10, payload: b, ...o });

export function closeFrame(code?: number, reason: string | Uint8Array = '', o: Partial<RawFrame> = {}): Buffer {
  const r = typeof reason === 'string' ? Buffer.from(reason) : Buffer.from(reason);
  const payload = code === undefined ? Buffer.alloc(0) : Buffer.concat([Buffer.from([code >> 8, code & 0xff]), r]);
  return frame({ opcode: 8, payload, ...o });
}

/** A parsed frame as the tests read it off the wire. */
export interface WireFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** Parses all whole frames in `buf` (unmasking); returns them and the unparsed rest. */
export function parseFrames(buf: Buffer): { frames: WireFrame[]; rest: Buffer } {
  const frames: WireFrame[] = [];
  let off = 0;
  for (;;) {
    if (buf.length - off < 2) break;
    const b0 = buf[off]!;
    const b1 = buf[off + 1]!;
    let len = b1 & 0x7f;
    let p = off + 2;
    if (len === 126) {
      if (buf.length - off < 4) break;
      len = buf.readUInt16BE(off + 2);
      p = off + 4;
    } else if (len === 127) {
      if (buf.length - off < 10) break;
      len = Number(buf.readBigUInt64BE(off + 2));
      p = off + 10;
    }
    const masked = (b1 & 0x80) !== 0;
    let key: Buffer | null = null;
    if (masked) {
      if (buf.length < p + 4) break;
      key = buf.subarray(p, p + 4);
      p += 4;
    }
    if (buf.length < p + len) break;
    const payload = Buffer.from(buf.subarray(p, p + len));
    if (key) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ key[i & 3]!;
    frames.push({ fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0xf, masked, payload });
    off = p + len;
  }
  return { frames, rest: buf.subarray(off) };
}

export const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
export const KEY_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

/** An upgrade request head, with headers to override (null removes one). */
export function requestHead(over: Record<string, string | null> = {}, requestLine = 'GET /chat HTTP/1.1'): string {
  const headers: Record<string, string | null> = {
    Host: 'server.example.com',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': KEY,
    'Sec-WebSocket-Version': '13',
    ...over,
  };
  let s = `${requestLine}\r\n`;
  for (const [k, v] of Object.entries(headers)) if (v !== null) s += `${k}: ${v}\r\n`;
  return `${s}\r\n`;
}

/** The same request as a plain object, as `accept(req)` takes it. */
export function requestObject(over: Record<string, string | null> = {}): {
  method: string;
  target: string;
  httpVersion: string;
  headers: Record<string, string>;
} {
  const headers: Record<string, string> = {};
  for (const line of requestHead(over).split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return { method: 'GET', target: '/chat', httpVersion: '1.1', headers };
}

/** A message, then one in two fragments with a ping between, then a close: the answer the cut and reset tests cut. */
export const helloWorld = (closeReason: string, o: Partial<RawFrame> = {}): Buffer[] => [
  text('hello', o),
  text('wor', { fin: false, ...o }),
  ping('p', o),
  cont('ld', o),
  closeFrame(1000, closeReason, o),
];

/** One HTTP/2 frame (RFC 9113 §4.1): its 9-byte header, then `payload`, for tests that speak HTTP/2 byte by byte. */
export function h2Frame(type: number, flags: number, stream: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}
