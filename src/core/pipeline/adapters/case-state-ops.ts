/**
 * The case runner's LoRA side (`CaseStateOps`, cases/state-ops.ts) on the adapter manager: each
 * Diffusers call of a case is one manager call; the per-call `cross_attention_kwargs.scale` is
 * `setScale` around the call; `get_weight` reads the base plus what is fused;
 * `peft_add_weighted_adapter` is `addWeightedAdapter` (case-weighted-adapter.ts). One instance per
 * case (a case starts from a freshly loaded pipeline); the manager is made on first use, on the
 * case's model, with weights going into its sessions (wasm path).
 */
import { LorafuseError } from '../../../errors.ts';
import type { CaseStateContext, CaseStateOps, CaseTensor } from '../../cases/state-ops.ts';
import { subSource } from '../../cases/sub-source.ts';
import type { ModelSource } from '../../io/model-source.ts';
import { COMPONENTS, type Component } from '../../lora/adapter.ts';
import type { MergeBackend } from '../../lora/merge-fast/merge-backend.ts';
import type { AdapterManager, AdapterWeightInput } from '../adapters.ts';
import type { LoadedModel } from '../model.ts';
import { peftAddWeightedAdapter } from './case-weighted-adapter.ts';
import { sessionAdapterManager } from './session-sink.ts';

export interface ManagerStateOpsOptions {
  /** The CPU merge backend (default: the scalar oracle). */
  merge?: MergeBackend;
  /**
   * Makes the manager on the case's model (default: `sessionAdapterManager`, CPU merges written
   * into the sessions; `merge` applies only to it). E.g. the GPU store on a WebGPU model.
   */
  createManager?: (model: LoadedModel, openRepo: (repo: string) => ModelSource) => AdapterManager;
}

export interface ManagerStateOps extends CaseStateOps {
  /** The manager, once a state op made it (for tests). */
  readonly manager: AdapterManager | undefined;
}

function isComponent(c: unknown): c is Component {
  return typeof c === 'string' && (COMPONENTS as readonly string[]).includes(c);
}

function components(v: unknown, op: string): Component[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every(isComponent)) {
    throw new LorafuseError(
      'invalid-argument',
      `${op}: components must be a list of ${COMPONENTS.join(', ')}.`,
      {
        components: v,
      },
    );
  }
  return v;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export function managerStateOps(options: ManagerStateOpsOptions = {}): ManagerStateOps {
  let made: Promise<AdapterManager> | undefined;
  let current: AdapterManager | undefined;
  const manager = (ctx: CaseStateContext): Promise<AdapterManager> => {
    made ??= ctx.model().then((model) => {
      const openRepo = (repo: string) => subSource(ctx.root, repo);
      current = options.createManager
        ? options.createManager(model, openRepo)
        : sessionAdapterManager(model, { openRepo, ...(options.merge ? { merge: options.merge } : {}) });
      return current;
    });
    return made;
  };

  return {
    get manager() {
      return current;
    },

    async apply(op, ctx) {
      const m = await manager(ctx);
      switch (op.op) {
        case 'load_lora_weights': {
          const repo = str(op.repo);
          if (!repo) throw new LorafuseError('invalid-argument', 'load_lora_weights: repo is missing.', {});
          const weightName = str(op.weight_name);
          const adapterName = str(op.adapter_name);
          await m.loadLoraWeights(weightName ? { repo, weightName } : { repo }, {
            ...(adapterName ? { adapterName } : {}),
            ...(isComponent(op.prefix) ? { prefix: op.prefix } : {}),
            hotswap: op.hotswap === true,
          });
          return;
        }
        case 'set_adapters':
          await m.setAdapters(
            op.adapter_names as string | string[],
            op.adapter_weights as AdapterWeightInput[],
          );
          return;
        case 'fuse_lora': {
          const comps = components(op.components, 'fuse_lora');
          await m.fuseLora({
            ...(comps ? { components: comps } : {}),
            ...(typeof op.lora_scale === 'number' ? { loraScale: op.lora_scale } : {}),
            ...(Array.isArray(op.adapter_names) ? { adapterNames: op.adapter_names as string[] } : {}),
            safeFusing: op.safe_fusing === true,
          });
          return;
        }
        case 'unfuse_lora': {
          const comps = components(op.components, 'unfuse_lora');
          await m.unfuseLora(comps ? { components: comps } : {});
          return;
        }
        case 'disable_lora':
          await m.disableLora();
          return;
        case 'enable_lora':
          await m.enableLora();
          return;
        case 'delete_adapters':
          await m.deleteAdapters(op.adapter_names as string | string[]);
          return;
        case 'unload_lora_weights':
          await m.unloadLoraWeights();
          return;
        case 'enable_lora_hotswap':
          await m.enableLoraHotswap({ targetRank: op.target_rank as number });
          return;
        case 'peft_add_weighted_adapter':
          await peftAddWeightedAdapter(m, op, ctx);
          return;
        default:
          throw new LorafuseError(
            'not-implemented',
            `case op '${op.op}' is not implemented by the adapter manager.`,
            { op: op.op },
          );
      }
    },

    async withScale(scale, ctx, body) {
      const m = await manager(ctx);
      const before = m.getScale();
      await m.setScale(scale);
      try {
        return await body();
      } finally {
        await m.setScale(before);
      }
    },

    async fusedWeight(component, module): Promise<CaseTensor | undefined> {
      if (!current || !isComponent(component)) return undefined;
      const w = (await current.readModuleWeights(component, module))?.base.weight;
      return w ? { shape: [...w.shape], data: Float32Array.from(w.data) } : undefined;
    },
  };
}
