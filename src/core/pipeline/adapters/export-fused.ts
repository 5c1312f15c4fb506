/**
 * `exportFusedWeights`: each component's state dict as the networks would run it without live
 * adapters: the base plus whatever is fused now (Diffusers' `pipe.fuse_lora()` then
 * `pipe.unet.save_pretrained(...)`, minus the unload). Keys are diffusers state-dict keys
 * (`down_blocks.0.attentions.0.proj_in.weight`), values float32, metadata `{format: 'pt'}` as
 * Diffusers writes it. Modules the manager holds come from its own fused base; every other
 * parameter is read from the model as it was loaded.
 */
import { LorafuseError } from '../../../errors.ts';
import { type TensorToWrite, writeSafetensors } from '../../io/safetensors.ts';
import { COMPONENTS, type Component, type F32Tensor } from '../../lora/adapter.ts';
import type { BaseParams } from '../../lora/merge-cpu.ts';
import type { LoraTarget } from '../../lora/target.ts';

/** Every parameter of a component by state-dict key; undefined when the component is not loaded. */
export type StateDictReader = (
  component: Component,
) => ReadonlyMap<string, F32Tensor> | undefined | Promise<ReadonlyMap<string, F32Tensor> | undefined>;

/** `<module>.weight` / `<module>.bias` -> [module, param]; null for other keys. */
function splitKey(key: string): [string, 'weight' | 'bias'] | null {
  const m = /^(.*)\.(weight|bias)$/.exec(key);
  return m ? [m[1]!, m[2] as 'weight' | 'bias'] : null;
}

/**
 * The component's safetensors file: `stateDict` with every module `held` knows replaced by its
 * fused base. A held module whose parameter is missing from the state dict is an error (the two
 * would describe different models).
 */
export function fusedStateDictFile(
  component: Component,
  stateDict: ReadonlyMap<string, F32Tensor>,
  held: ReadonlyMap<string, BaseParams>,
): Uint8Array {
  const tensors: TensorToWrite[] = [];
  const used = new Set<string>();
  for (const [key, value] of stateDict) {
    const split = splitKey(key);
    const base = split ? held.get(split[0]) : undefined;
    const t = base && split ? (split[1] === 'weight' ? base.weight : base.bias) : undefined;
    if (t && split) used.add(split[0]);
    const chosen = t ?? value;
    tensors.push({ name: key, dtype: 'F32', shape: [...chosen.shape], data: chosen.data });
  }
  const absent = [...held.keys()].filter((m) => !used.has(m));
  if (absent.length > 0) {
    throw new LorafuseError(
      'internal',
      `exportFusedWeights: ${component} has no parameter for ${absent.length} module(s) the adapters touch (${absent.slice(0, 5).join(', ')}); the state dict and the adapter target describe different models.`,
      { component, modules: absent },
    );
  }
  return writeSafetensors(tensors, { format: 'pt' });
}

/**
 * Every requested component's file (`requested` undefined: every component of the model);
 * `held(c)` gives the fused base of each module of `c` the manager holds, by module name.
 */
export async function exportFused(
  target: LoraTarget,
  read: StateDictReader | undefined,
  components: readonly Component[] | undefined,
  held: (c: Component) => ReadonlyMap<string, BaseParams> | Promise<ReadonlyMap<string, BaseParams>>,
): Promise<Partial<Record<Component, Uint8Array>>> {
  const loaded = COMPONENTS.filter((c) => target.components[c]);
  const requested = components ?? loaded;
  const absent = requested.filter((c) => !loaded.includes(c));
  if (absent.length > 0) {
    throw new LorafuseError(
      'invalid-argument',
      `exportFusedWeights: this model has no ${absent.join(', ')}; it has ${loaded.join(', ')}.`,
      { components: absent },
    );
  }
  if (!read) {
    throw new LorafuseError(
      'not-implemented',
      'exportFusedWeights: the base weight source of this adapter manager cannot list a state dict; create the manager with a base that has stateDict().',
      {},
    );
  }
  const out: Partial<Record<Component, Uint8Array>> = {};
  for (const c of requested) {
    const stateDict = await read(c);
    if (!stateDict) {
      throw new LorafuseError('invalid-argument', `exportFusedWeights: no ${c} weights are loaded.`, {
        component: c,
      });
    }
    out[c] = fusedStateDictFile(c, stateDict, await held(c));
  }
  return out;
}
