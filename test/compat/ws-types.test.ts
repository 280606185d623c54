/**
 * TypeScript written for `ws` (against @types/ws) compiles against ws-stream/ws's declarations
 * with `ws` resolved to them (`paths`, as a project that aliases ws does). The corpus in
 * test/fixtures/ws-types/ is how ws 8's users write it: the default import as a value, a type and a
 * namespace (`WebSocket.RawData`), named imports, `import … = require('ws')`, listener signatures,
 * `WebSocketServer` generics, the README's heartbeat with module augmentation. Each file is compiled
 * against @types/ws (the reference: it must pass) and against dist/src/compat/index.d.ts, in one
 * program per module setting; every file that passes the reference must pass ours. The files end in
 * `.fixture` so that the project's build leaves them out (their module augmentation would reach
 * every file importing ws).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const corpusDir = fileURLToPath(new URL('../../../test/fixtures/ws-types/', import.meta.url));
const ours = fileURLToPath(new URL('../../src/compat/index.d.ts', import.meta.url));

/** The corpus as the compiler sees it: `client.mts.fixture` is `client.mts`. */
const corpus = new Map(
  readdirSync(corpusDir)
    .filter((f) => f.endsWith('.fixture'))
    .map((f) => [join(corpusDir, f.slice(0, -'.fixture'.length)), readFileSync(join(corpusDir, f), 'utf8')]),
);

/** Parsed files shared by every program (lib and @types/node are parsed once). */
const parsed = new Map<string, ts.SourceFile>();

function compile(files: string[], options: ts.CompilerOptions): Map<string, string[]> {
  const host = ts.createCompilerHost(options, true);
  const { fileExists, readFile, getSourceFile } = host;
  host.fileExists = (f) => corpus.has(f) || fileExists.call(host, f);
  host.readFile = (f) => corpus.get(f) ?? readFile.call(host, f);
  host.getSourceFile = (f, lang, onError) => {
    const text = corpus.get(f);
    if (text !== undefined) return ts.createSourceFile(f, text, lang);
    const key = `${f}\0${JSON.stringify(lang)}`;
    let sf = parsed.get(key);
    if (sf === undefined) {
      sf = getSourceFile.call(host, f, lang, onError);
      if (sf !== undefined) parsed.set(key, sf);
    }
    return sf;
  };
  const program = ts.createProgram(files, { ...options, noEmit: true }, host);
  const out = new Map<string, string[]>();
  for (const f of files) {
    const sf = program.getSourceFile(f);
    assert.ok(sf, f);
    const diags = [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)];
    out.set(
      f,
      diags.map((d) => {
        const { line, character } = ts.getLineAndCharacterOfPosition(sf, d.start ?? 0);
        return `${line + 1}:${character + 1} TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
      }),
    );
  }
  return out;
}

const base: ts.CompilerOptions = {
  strict: true,
  target: ts.ScriptTarget.ES2022,
  types: ['node'],
  skipLibCheck: true,
};

const settings: [string, ts.CompilerOptions, (f: string) => boolean][] = [
  ['nodenext', { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext }, () => true],
  [
    'nodenext without esModuleInterop',
    { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, esModuleInterop: false },
    () => true,
  ],
  [
    'preserve (bundler)',
    { module: ts.ModuleKind.Preserve, moduleResolution: ts.ModuleResolutionKind.Bundler },
    () => true,
  ],
  [
    'node16',
    { module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16 },
    (f) => f.endsWith('.mts'),
  ],
];

for (const [name, options, chosen] of settings) {
  it(`the corpus compiles against ws-stream/ws wherever it compiles against @types/ws: ${name}`, () => {
    const files = [...corpus.keys()].filter(chosen);
    const reference = compile(files, { ...base, ...options });
    const mapped = compile(files, { ...base, ...options, paths: { ws: [ours] } });
    const report: string[] = [];
    for (const f of files) {
      if (reference.get(f)!.length > 0) continue;
      for (const d of mapped.get(f)!) report.push(`${f.slice(corpusDir.length)}:${d}`);
    }
    console.log(
      name,
      'reference failures',
      [...reference].filter(([, d]) => d.length > 0).map(([f, d]) => [f.slice(corpusDir.length), d]),
    );
    assert.deepEqual(report, []);
  });
}
