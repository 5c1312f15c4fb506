/**
 * Module inventory: every parameterised module of a component (its diffusers/transformers path,
 * kind, weight shape and bias shape), computed from the typed configs alone. The parameter names
 * of the real model are `<path>.weight` and `<path>.bias`; the tests check that the inventory
 * produces exactly the keys and shapes of the fixture models' safetensors.
 *
 * LoRA conversion uses it as the reverse index of LORA-FORMATS.md 2.2 (names are looked up, never
 * guessed), and validation uses its shapes.
 */

export type ModuleKind = 'linear' | 'conv' | 'norm' | 'embedding';

export interface ModuleEntry {
  /** Module path inside the component, e.g. `down_blocks.0.attentions.0.proj_in`. */
  path: string;
  kind: ModuleKind;
  /** `[out, in]` linear, `[out, in, kh, kw]` conv, `[C]` norm, `[num, dim]` embedding. */
  weight: number[];
  /** `[out]` / `[C]`, or null for a module without bias. */
  bias: number[] | null;
}

/** One component's modules, in construction order, with lookup by path. */
export class ComponentInventory {
  readonly modules: readonly ModuleEntry[];
  private readonly byPath: Map<string, ModuleEntry>;

  constructor(modules: ModuleEntry[]) {
    this.modules = modules;
    this.byPath = new Map(modules.map((m) => [m.path, m]));
  }

  get(path: string): ModuleEntry | undefined {
    return this.byPath.get(path);
  }

  has(path: string): boolean {
    return this.byPath.has(path);
  }

  /** `{ '<path>.weight': shape, '<path>.bias': shape }` for every parameter. */
  parameterShapes(): Map<string, number[]> {
    const out = new Map<string, number[]>();
    for (const m of this.modules) {
      out.set(`${m.path}.weight`, m.weight);
      if (m.bias) out.set(`${m.path}.bias`, m.bias);
    }
    return out;
  }
}

/** Collects modules under a path prefix; blocks are plain functions taking one of these. */
export class InventoryBuilder {
  private readonly out: ModuleEntry[];
  private readonly prefix: string;

  constructor(prefix = '', out: ModuleEntry[] = []) {
    this.prefix = prefix;
    this.out = out;
  }

  scope(name: string): InventoryBuilder {
    return new InventoryBuilder(this.prefix ? `${this.prefix}.${name}` : name, this.out);
  }

  private path(name: string): string {
    return this.prefix ? `${this.prefix}.${name}` : name;
  }

  linear(name: string, inFeatures: number, outFeatures: number, bias = true): void {
    this.out.push({
      path: this.path(name),
      kind: 'linear',
      weight: [outFeatures, inFeatures],
      bias: bias ? [outFeatures] : null,
    });
  }

  conv(name: string, inChannels: number, outChannels: number, kernel: number, bias = true): void {
    this.out.push({
      path: this.path(name),
      kind: 'conv',
      weight: [outChannels, inChannels, kernel, kernel],
      bias: bias ? [outChannels] : null,
    });
  }

  norm(name: string, channels: number): void {
    this.out.push({ path: this.path(name), kind: 'norm', weight: [channels], bias: [channels] });
  }

  embedding(name: string, num: number, dim: number): void {
    this.out.push({ path: this.path(name), kind: 'embedding', weight: [num, dim], bias: null });
  }

  build(): ComponentInventory {
    return new ComponentInventory(this.out);
  }
}
