/**
 * The module-loader hooks of `ws-alias.ts` (they run on the loader's thread): the specifier `ws` resolves to the URL
 * in `data.target`, from any importer (ws's exports map offers no other path).
 */
interface ResolveContext {
  conditions: string[];
  parentURL?: string;
}
type NextResolve = (specifier: string, context: ResolveContext) => Promise<{ url: string }>;

let target = '';

export function initialize(data: { target: string }): void {
  target = data.target;
}

export async function resolve(
  specifier: string,
  context: ResolveContext,
  nextResolve: NextResolve,
): Promise<{ url: string; shortCircuit?: boolean }> {
  if (specifier === 'ws') return { url: target, shortCircuit: true };
  return nextResolve(specifier, context);
}
