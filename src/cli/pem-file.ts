/**
 * Reading `--cert`, `--key` and `--ca` files: bounded, regular files only, PEM only. `readFileSync`
 * alone reads `/dev/zero` until memory runs out and blocks forever opening a FIFO nobody writes to;
 * a file that is no PEM only failed later, in OpenSSL's words.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

/**
 * The most a certificate, key or CA file may hold: 1 MiB. A certificate chain is a few KiB, and a
 * bundle of every public CA about 220 KiB.
 */
export const PEM_FILE_MAX = 1024 * 1024;

/** What a PEM file must hold: its type's `-----BEGIN …-----` line. */
const BEGIN = {
  certificate: /-----BEGIN CERTIFICATE-----/,
  'private key': /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/,
} as const;

/**
 * The bytes of the PEM file at `path` holding a `kind`; throws an Error whose message names the file
 * and what is wrong with it (a missing or unreadable file: node's own message, with its code).
 */
export function readPemFile(path: string, kind: keyof typeof BEGIN): Buffer {
  // O_NONBLOCK: opening a FIFO with no writer returns at once (then refused below) instead of waiting.
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  let bytes: Buffer;
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) throw new Error(`${path} is a directory, not a ${kind} file`);
    if (!stat.isFile()) throw new Error(`${path} is not a regular file (a device, FIFO or socket): give a PEM file`);
    // Read to the end, one byte past the limit at most (its size may be wrong: a file still
    // growing, or one of /proc's, which say 0).
    const buf = Buffer.alloc(PEM_FILE_MAX + 1);
    let got = 0;
    for (let n = -1; n !== 0 && got < buf.length; got += n) n = readSync(fd, buf, got, buf.length - got, null);
    if (got > PEM_FILE_MAX) throw new Error(`${path} is over ${PEM_FILE_MAX} bytes: no ${kind} file is that large`);
    bytes = buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
  if (!BEGIN[kind].test(bytes.toString('latin1'))) {
    const line = kind === 'certificate' ? '-----BEGIN CERTIFICATE-----' : '-----BEGIN … PRIVATE KEY-----';
    throw new Error(`${path} holds no PEM ${kind} (no "${line}" line)`);
  }
  return bytes;
}
