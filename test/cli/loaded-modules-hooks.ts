/**
 * The module-loader hook of `loaded-modules.ts` (it runs on the loader's thread): every module
 * loaded, a file or a node: built-in, is appended as one line to the file named in `data.file`.
 */
import { appendFileSync } from 'node:fs';

interface LoadContext {
  format?: string;
}
type NextLoad = (url: string, context: LoadContext) => Promise<unknown>;

let file = '';

export function initialize(data: { file: string }): void {
  file = data.file;
}

export async function load(url: string, context: LoadContext, nextLoad: NextLoad): Promise<unknown> {
  appendFileSync(file, `${url}\n`);
  return nextLoad(url, context);
}
