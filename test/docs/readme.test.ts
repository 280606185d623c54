/** The README documents every error code and option. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { errorCodes, describeError, streamDefaults } from '../../src/index.js';

const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');

it('README has a row for every error code, with its condition and close code', () => {
  for (const code of errorCodes) {
    const row = readme.split('\n').find((l) => l.startsWith(`| \`${code}\` |`));
    assert.ok(row, `${code} is not in the README's table`);
    const info = describeError(code);
    assert.match(row, new RegExp(`\\| ${info.condition} \\| ${info.closeCode || '—'} \\|`), code);
  }
});

it('README documents every stream option', () => {
  for (const name of Object.keys(streamDefaults)) assert.match(readme, new RegExp(`\\| \`${name}\` \\|`), name);
});
