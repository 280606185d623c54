/**
 * The optional native helper: when the `bufferutil` package is installed beside ws-stream (it is
 * not a dependency), its unmasking routine serves payloads of 1 KiB and more, about 5× faster than
 * the JavaScript word loop. Set WS_STREAM_NO_NATIVE=1 to keep to JavaScript. This is the only place
 * that looks for it, once, when the stream module loads.
 */
import { createRequire } from 'node:module';
import { setNativeUnmask, type NativeMask, type NativeUnmask } from '../proto/mask.js';

export function loadNativeHelper(): boolean {
  if (process.env.WS_STREAM_NO_NATIVE) return false;
  try {
    const bufferutil = createRequire(import.meta.url)('bufferutil') as { unmask?: NativeUnmask; mask?: NativeMask };
    if (typeof bufferutil.unmask !== 'function') return false;
    // Check it against the JavaScript result before trusting it.
    const probe = Buffer.from([1, 2, 3, 4, 5]);
    bufferutil.unmask(probe, Buffer.from([1, 1, 1, 1]));
    if (probe[0] !== 0 || probe[4] !== 4) return false;
    // Its copying routine too, if it has one that gives the same bytes (into the middle of its output).
    let mask: NativeMask | null = null;
    if (typeof bufferutil.mask === 'function') {
      const out = Buffer.alloc(7);
      bufferutil.mask(Buffer.from([1, 2, 3, 4, 5]), Buffer.from([1, 2, 1, 1]), out, 1, 5);
      if (out.equals(Buffer.from([0, 0, 0, 2, 5, 4, 0])))
        mask = (src, key, dst, offset, length) => bufferutil.mask!(src, key, dst, offset, length);
    }
    setNativeUnmask((buf, key) => bufferutil.unmask!(buf, key), mask);
    return true;
  } catch {
    return false;
  }
}

/** Whether the native helper is in use. */
export const nativeHelper = loadNativeHelper();
