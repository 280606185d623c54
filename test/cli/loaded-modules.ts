/**
 * Preloaded (`--import`) by lazy-imports.test.ts: records every module the process imports (files
 * and node: built-ins, one URL a line) in the file named by WS_STREAM_TEST_LOADED.
 */
import { register } from 'node:module';

register(new URL('./loaded-modules-hooks.js', import.meta.url), {
  data: { file: process.env.WS_STREAM_TEST_LOADED },
});
