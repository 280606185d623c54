/**
 * Makes `ws` mean `ws-stream/ws` in this process, as a user does (with a one-file package re-exporting it in place
 * of `ws`) to run code that requires ws internally and takes no injected engine: `node --import <this file's URL> app.js`.
 * `import … from 'ws'` goes through a resolve hook (module.register); `require('ws')` from
 * CommonJS goes through Module._resolveFilename, which CommonJS loading uses on Node 20 whoever imported the module.
 * Both land on ws-stream/ws's one build, so a package's ESM and CJS halves share the same classes.
 */
import Module, { register } from 'node:module';
import { fileURLToPath } from 'node:url';

const target = import.meta.resolve('ws-stream/ws');
const targetPath = fileURLToPath(target);

register(new URL('./ws-alias-hooks.js', import.meta.url), { data: { target } });

type ResolveFilename = (request: string, ...rest: unknown[]) => string;
const loader = Module as unknown as { _resolveFilename: ResolveFilename };
const resolveFilename = loader._resolveFilename;
loader._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]): string {
  if (request === 'ws') return targetPath;
  return resolveFilename.call(this, request, ...rest);
};
