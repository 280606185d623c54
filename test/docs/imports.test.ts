/**
 * The README's design section, checked against the sources: imports flow one way by layer
 * (`proto ← codec ← stream ← (compat, pubsub) ← cli`, `errors.ts` and `options.ts` below the stream,
 * nothing imports `index.ts`), and no file reaches itself again through its imports. Type-only
 * imports count: a type that two layers share belongs to the lower one.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const src = fileURLToPath(new URL('../../../src/', import.meta.url));

/** Every source file under src/, as a path relative to it ('stream/accept.ts'). */
function sources(dir = src): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(join(dir, e.name))
      : /\.c?ts$/.test(e.name) && !e.name.endsWith('.d.ts')
        ? [relative(src, join(dir, e.name))]
        : [],
  );
}

interface Edge {
  to: string;
  typeOnly: boolean;
}

/** The files of src/ a file imports: static imports and re-exports, `import('…')` types and calls. */
function importsOf(file: string): Edge[] {
  const text = readFileSync(join(src, file), 'utf8');
  const root = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const edges: Edge[] = [];
  const add = (spec: string, typeOnly: boolean): void => {
    if (!spec.startsWith('.')) return; // node: built-ins and packages
    const to = relative(src, resolve(dirname(join(src, file)), spec)).replace(/\.(c?)js$/, '.$1ts');
    edges.push({ to, typeOnly });
  };
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier)) {
      const c = n.importClause;
      const named = c?.namedBindings !== undefined && ts.isNamedImports(c.namedBindings) ? c.namedBindings : undefined;
      const typeOnly =
        c !== undefined &&
        (c.isTypeOnly || (c.name === undefined && named !== undefined && named.elements.every((e) => e.isTypeOnly)));
      add(n.moduleSpecifier.text, typeOnly);
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier !== undefined && ts.isStringLiteral(n.moduleSpecifier)) {
      add(n.moduleSpecifier.text, n.isTypeOnly);
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) {
      add(n.argument.literal.text, true);
    } else if (
      ts.isCallExpression(n) &&
      n.expression.kind === ts.SyntaxKind.ImportKeyword &&
      n.arguments[0] !== undefined &&
      ts.isStringLiteral(n.arguments[0])
    ) {
      add(n.arguments[0].text, false);
    }
    ts.forEachChild(n, visit);
  };
  visit(root);
  return edges;
}

const files = sources();
const graph = new Map(files.map((f) => [f, importsOf(f)]));

/** A file's layer: its directory under src/, or the file itself for errors.ts, options.ts, index.ts. */
function layerOf(file: string): string {
  return file.includes('/') ? file.slice(0, file.indexOf('/')) : file.replace(/\.ts$/, '');
}

/** What each layer may import (besides itself). */
const allowed: Record<string, string[]> = {
  errors: [],
  proto: ['errors'],
  codec: ['errors', 'proto'],
  options: ['errors', 'proto'],
  stream: ['errors', 'options', 'proto', 'codec'],
  compat: ['errors', 'options', 'proto', 'codec', 'stream'],
  pubsub: ['errors', 'options', 'proto', 'codec', 'stream'],
  cli: ['errors', 'options', 'proto', 'codec', 'stream', 'compat', 'pubsub'],
  index: ['errors', 'options', 'proto', 'codec', 'stream'],
};

/** A path of imports from `from` back to `to`, or null. */
function pathBack(from: string, to: string): string[] | null {
  const seen = new Set<string>();
  const walk = (f: string): string[] | null => {
    if (f === to) return [f];
    if (seen.has(f)) return null;
    seen.add(f);
    for (const e of graph.get(f) ?? []) {
      const rest = walk(e.to);
      if (rest) return [f, ...rest];
    }
    return null;
  };
  return walk(from);
}

it('the import graph covers every source file and every relative import names one', () => {
  assert.ok(files.length > 50, `${files.length} files`);
  for (const layer of Object.keys(allowed))
    assert.ok(
      files.some((f) => layerOf(f) === layer),
      `a file in ${layer}`,
    );
  for (const [f, edges] of graph) {
    assert.ok(allowed[layerOf(f)], `${f}: a layer the design names`);
    for (const e of edges) assert.ok(graph.has(e.to), `${f} imports ${e.to}, which is no source file`);
  }
});

it('imports go one way by layer, type-only imports too; nothing imports index.ts', () => {
  const upward: string[] = [];
  for (const [f, edges] of graph) {
    const from = layerOf(f);
    for (const e of edges) {
      const to = layerOf(e.to);
      if (to !== from && !allowed[from]!.includes(to)) upward.push(`${f} → ${e.to}${e.typeOnly ? ' (type-only)' : ''}`);
    }
  }
  assert.deepEqual(upward, []);
});

it('no file imports itself again through other files (each cycle found is named)', () => {
  const cycles = new Set<string>();
  for (const [f, edges] of graph) {
    for (const e of edges) {
      const back = pathBack(e.to, f);
      if (back === null) continue;
      // One name per cycle: started from its smallest file.
      const ring = [f, ...back.slice(0, -1)];
      const i = ring.indexOf([...ring].sort()[0]!);
      const turned = [...ring.slice(i), ...ring.slice(0, i)];
      cycles.add([...turned, turned[0]].join(' → '));
    }
  }
  assert.deepEqual([...cycles], []);
});
