/**
 * How many promises made during some work are still alive after forced GCs: a leak test's count of what an
 * operation leaves reachable (a reaction left on a long-lived promise keeps its closures and promises).
 */
import { createHook } from 'node:async_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Runs `work` with every promise made meanwhile followed; how many of them are alive after a GC. */
export async function promisesHeldAfter(work: () => Promise<void>): Promise<number> {
  const made: WeakRef<object>[] = [];
  const hook = createHook({
    init(_id, type, _trigger, resource) {
      if (type === 'PROMISE') made.push(new WeakRef(resource as object));
    },
  });
  hook.enable();
  try {
    await work();
  } finally {
    hook.disable();
  }
  for (let i = 0; i < 5; i++) {
    await turn();
    gc();
  }
  return made.filter((r) => r.deref() !== undefined).length;
}
