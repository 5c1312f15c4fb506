/**
 * Reads the interface a WGSL kernel declares (its `struct Params` fields, group-0 bindings,
 * `override`s and integer `const`s), so that a kernel declaration can check its TypeScript side
 * against the shader text once, at declaration, instead of failing later with a layout error.
 * A deliberately small reader for our own kernels' style, not a WGSL parser.
 */

export interface WgslBinding {
  binding: number;
  name: string;
  space: 'uniform' | 'storage';
  access: 'read' | 'read_write';
}

export interface WgslInterface {
  /** `struct Params` fields in order, as [name, type]; empty when the struct is absent. */
  params: [string, string][];
  bindings: WgslBinding[];
  /** Override names, with `hasDefault` when the shader gives an initializer. */
  overrides: { name: string; hasDefault: boolean }[];
  /** Integer `const`s declared at module scope. */
  consts: Record<string, number>;
}

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, '');
}

export function readWgslInterface(source: string): WgslInterface {
  const src = stripComments(source);

  const params: [string, string][] = [];
  const struct = /struct\s+Params\s*\{([^}]*)\}/.exec(src);
  if (struct?.[1]) {
    for (const m of struct[1].matchAll(/(\w+)\s*:\s*([\w<>]+)/g)) params.push([m[1]!, m[2]!]);
  }

  const bindings: WgslBinding[] = [];
  const bindingRe =
    /@group\(\s*0\s*\)\s*@binding\(\s*(\d+)\s*\)\s*var\s*<\s*(\w+)\s*(?:,\s*(\w+)\s*)?>\s*(\w+)/g;
  for (const m of src.matchAll(bindingRe)) {
    const space = m[2] === 'uniform' ? 'uniform' : 'storage';
    bindings.push({
      binding: Number(m[1]),
      name: m[4]!,
      space,
      access: m[3] === 'read_write' ? 'read_write' : 'read',
    });
  }

  const overrides: { name: string; hasDefault: boolean }[] = [];
  for (const m of src.matchAll(/\boverride\s+(\w+)\s*(?::\s*\w+\s*)?(=)?/g)) {
    overrides.push({ name: m[1]!, hasDefault: m[2] === '=' });
  }

  const consts: Record<string, number> = {};
  for (const m of src.matchAll(/\bconst\s+(\w+)\s*(?::\s*\w+\s*)?=\s*(\d+)[ui]?\s*;/g)) {
    consts[m[1]!] = Number(m[2]);
  }

  return { params, bindings, overrides, consts };
}
