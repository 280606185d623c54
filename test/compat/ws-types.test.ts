/**
 * TypeScript written for `ws` (against @types/ws) compiles against ws-stream/ws's declarations
 * with `ws` resolved to them (`paths`, as a project that aliases ws does). The corpus in
 * test/fixtures/ws-types/ is how ws 8's users write it: the default import as a value, a type and a
 * namespace (`WebSocket.RawData`), named imports, `import … = require('ws')`, listener signatures,
 * `WebSocketServer` generics, the README's heartbeat with module augmentation. Each file is compiled
 * against @types/ws (the reference: it must pass) and against dist/src/compat/index.d.ts (the ES
 * module's declarations) or, for CommonJS files, require.d.cts, in one program per setting; every
 * file that passes the reference must pass ours, but for the lines marked `// documented: …` on the
 * ES module's declarations (doc/ws-compat.md explains them), which must fail there (so that the
 * mark goes once they compile). A line under `// @ts-expect-error` is code @types/ws refuses (a
 * listener of the wrong shape for its event): the reference passes only if it fails there, ours only if
 * it fails here too. The declaration files of installed packages that import ws are
 * checked the same way. The `beside-` files import both `ws` and `ws-stream/ws`, as a project that
 * does not alias ws does beside libraries typed against @types/ws: there `ws` stays @types/ws, and
 * the reference resolves `ws-stream/ws` to @types/ws too. The corpus files end in `.fixture` so that the project's build leaves them
 * out (their module augmentation would reach every file importing ws).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const corpusDir = fileURLToPath(new URL('../../../test/fixtures/ws-types/', import.meta.url));
const ours = fileURLToPath(new URL('../../src/compat/index.d.ts', import.meta.url));
const oursCommonJs = fileURLToPath(new URL('../../src/compat/require.d.cts', import.meta.url));
const distSrc = fileURLToPath(new URL('../../src/', import.meta.url));
const nodeModules = fileURLToPath(new URL('../../../node_modules/', import.meta.url));

/**
 * Declaration files of installed packages, written against @types/ws (each imports ws). Not
 * webpack-dev-server's: it uses the name of `import WebSocket = require('ws')` as the class (documented).
 */
const packageDeclarations = [
  'graphql-ws/dist/use/ws.d.ts',
  '@fastify/websocket/types/index.d.ts',
  'it-ws/dist/src/server.d.ts',
  'it-ws/dist/src/client.d.ts',
  'it-ws/dist/src/web-socket.d.ts',
  'engine.io/build/transport.d.ts',
  '@slack/socket-mode/dist/src/SocketModeClient.d.ts',
  'tinyws/dist/index.d.ts',
  '@hono/node-ws/dist/index.d.ts',
  'subscriptions-transport-ws/dist/server.d.ts',
  'isomorphic-ws/index.d.ts',
  'puppeteer-core/lib/esm/puppeteer/node/NodeWebSocketTransport.d.ts',
  '@colyseus/ws-transport/build/WebSocketTransport.d.ts',
  'mqtt/build/lib/client.d.ts',
  'rpc-websockets/dist/index.d.mts',
  'ethers/lib.esm/providers/ws.d.ts',
].map((f) => join(nodeModules, f));

/** The corpus as the compiler sees it: `client.mts.fixture` is `client.mts`. */
const corpus = new Map(
  readdirSync(corpusDir)
    .filter((f) => f.endsWith('.fixture'))
    .map((f) => [join(corpusDir, f.slice(0, -'.fixture'.length)), readFileSync(join(corpusDir, f), 'utf8')]),
);

/** Parsed files shared by every program (lib and @types/node are parsed once). */
const parsed = new Map<string, ts.SourceFile>();

/**
 * The diagnostics of each file given and of each file of the program under `alsoUnder` (our
 * declarations), and the program's files.
 */
function compile(files: string[], options: ts.CompilerOptions, alsoUnder?: string): [Map<string, string[]>, string[]] {
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
  const all = program.getSourceFiles().map((sf) => sf.fileName);
  for (const f of [...files, ...(alsoUnder === undefined ? [] : all.filter((f) => f.startsWith(alsoUnder)))]) {
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
  return [out, all];
}

// skipLibCheck off: the package declarations are checked (only the files asked about are).
const base: ts.CompilerOptions = { strict: true, target: ts.ScriptTarget.ES2022, types: ['node'] };

/** The lines of a corpus file marked as a documented difference (1-based). */
function documentedLines(file: string): Set<number> {
  const lines = (corpus.get(file) ?? '').split('\n');
  return new Set(lines.flatMap((l, i) => (l.includes('// documented: ') ? [i + 1] : [])));
}

interface Setting {
  name: string;
  options: ts.CompilerOptions;
  /** The corpus files compiled. */
  chosen: (f: string) => boolean;
  /** Where `ws` is resolved to: the ES module's declarations, or the CommonJS ones (require.d.cts). */
  declarations: string;
  /** Package declaration files compiled too. */
  extra?: string[];
  /**
   * `ws` is left to @types/ws and `ws-stream/ws` is resolved to `declarations` (in the reference, to
   * @types/ws too): a project importing ws-stream/ws beside libraries typed against @types/ws.
   */
  beside?: boolean;
}

const nodenext = { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext };
const node16 = { module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16 };
const commonJs = (f: string): boolean => f.endsWith('.cts');
/** A file importing both `ws` and `ws-stream/ws`: compiled by the setting of its own only. */
const beside = (f: string): boolean => f.slice(corpusDir.length).startsWith('beside-');
const typesWsIndex = join(nodeModules, '@types/ws/index.d.ts');

const settings: Setting[] = [
  {
    name: 'nodenext',
    options: nodenext,
    chosen: (f) => !beside(f),
    declarations: ours,
    extra: packageDeclarations,
  },
  // esModuleInterop changes how CommonJS files import: only they are compiled again.
  {
    name: 'nodenext without esModuleInterop',
    options: { ...nodenext, esModuleInterop: false },
    chosen: commonJs,
    declarations: ours,
  },
  {
    name: 'preserve (bundler)',
    options: { module: ts.ModuleKind.Preserve, moduleResolution: ts.ModuleResolutionKind.Bundler },
    chosen: (f) => !beside(f),
    declarations: ours,
  },
  // node16 models a Node that cannot require() an ES module: CommonJS files cannot import the ES
  // module's declarations there (TS1479; it needs Node ≥ 20.19, which nodenext models).
  { name: 'node16', options: node16, chosen: (f) => f.endsWith('.mts') && !beside(f), declarations: ours },
  {
    name: 'ws-stream/ws imported beside @types/ws, nodenext',
    options: nodenext,
    chosen: beside,
    declarations: ours,
    beside: true,
  },
  // A CommonJS project resolving ws to require.d.cts: `import … = require('ws')` names the class.
  {
    name: 'CommonJS files on require.d.cts, nodenext',
    options: nodenext,
    chosen: commonJs,
    declarations: oursCommonJs,
  },
  {
    name: 'CommonJS files on require.d.cts, nodenext without esModuleInterop',
    options: { ...nodenext, esModuleInterop: false },
    chosen: commonJs,
    declarations: oursCommonJs,
  },
  { name: 'CommonJS files on require.d.cts, node16', options: node16, chosen: commonJs, declarations: oursCommonJs },
  {
    name: 'CommonJS files on require.d.cts, commonjs (node10 resolution)',
    options: {
      module: ts.ModuleKind.CommonJS,
      moduleResolution: ts.ModuleResolutionKind.Node10,
      esModuleInterop: true,
    },
    chosen: commonJs,
    declarations: oursCommonJs,
  },
];

for (const { name, options, chosen, declarations, extra = [], beside = false } of settings) {
  it(`the corpus compiles against ws-stream/ws wherever it compiles against @types/ws: ${name}`, () => {
    const files = [...[...corpus.keys()].filter(chosen), ...extra];
    const [reference, referenceFiles] = compile(files, {
      ...base,
      ...options,
      ...(beside ? { paths: { 'ws-stream/ws': [typesWsIndex] } } : {}),
    });
    const paths: ts.MapLike<string[]> = beside ? { 'ws-stream/ws': [declarations] } : { ws: [declarations] };
    const [mapped, mappedFiles] = compile(files, { ...base, ...options, paths }, distSrc);
    // `ws` is @types/ws in one program and ours in the other (a missing file would fall back to
    // @types/ws); it-ws's declarations load @types/ws besides, by `/// <reference types="ws" />`.
    const typesWs = (f: string): boolean => f.includes('/@types/ws/');
    assert.ok(referenceFiles.some(typesWs) && !referenceFiles.includes(declarations));
    assert.ok(mappedFiles.includes(declarations) && (extra.length > 0 || beside || !mappedFiles.some(typesWs)));
    // Our declaration files check under this setting too (a user without skipLibCheck).
    assert.deepEqual(
      [...mapped].flatMap(([f, d]) => (f.startsWith(distSrc) ? d.map((m) => `${f.slice(distSrc.length)}:${m}`) : [])),
      [],
    );
    const passing = files.filter((f) => reference.get(f)!.length === 0);
    // The reference compiles the whole corpus, but a default import from CommonJS without
    // esModuleInterop and, with it, `import * as` used as the class.
    const corpusFailing = [...reference].filter(([f, d]) => corpus.has(f) && d.length > 0).map(([f]) => f);
    assert.deepEqual(
      corpusFailing.map((f) => f.slice(corpusDir.length)).sort(),
      options.esModuleInterop === false
        ? ['default-import.cts', 'ws7.cts']
        : chosen('x.cts')
          ? ['namespace-class.cts']
          : [],
    );
    const report: string[] = [];
    for (const f of passing) {
      const name = f.startsWith(corpusDir) ? f.slice(corpusDir.length) : f.slice(nodeModules.length);
      // The marked lines are the ES module's differences; on require.d.cts everything compiles.
      const documented = declarations === ours ? documentedLines(f) : new Set<number>();
      const failed = new Set<number>();
      for (const d of mapped.get(f)!) {
        const line = Number(d.slice(0, d.indexOf(':')));
        failed.add(line);
        if (!documented.has(line)) report.push(`${name}:${d}`);
      }
      for (const line of documented)
        if (!failed.has(line)) report.push(`${name}:${line} compiles: no longer a difference`);
    }
    assert.deepEqual(report, []);
    // The packages' declarations compile against @types/ws, all of them: each was checked above.
    assert.deepEqual(
      extra.filter((f) => !passing.includes(f)),
      [],
    );
  });
}
