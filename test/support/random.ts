/**
 * The tests' seeded generator (mulberry32): the same seed gives the same sequence, so a test that
 * prints its seed can replay a failure. Not for anything but tests.
 */

/** Numbers in [0, 1) from `seed`. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
