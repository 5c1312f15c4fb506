/**
 * The LoRA-state side of the case runner: `load_lora_weights`, `set_adapters`, `fuse_lora`, ...,
 * the per-call `cross_attention_kwargs.scale`, and `get_weight`'s "base plus what is fused". The
 * adapter manager implements this; until it exists `baseStateOps` runs base-only cases and
 * refuses every state op by name.
 */
import { LorafuseError } from '../../errors.ts';
import type { ModelSource } from '../io/model-source.ts';
import type { LoadedModel } from '../pipeline/model.ts';
import type { StateOp } from './case-json.ts';

export interface CaseTensor {
  shape: number[];
  data: Float32Array;
}

export interface CaseStateContext {
  /** The case's model, loaded on first use. */
  model(): Promise<LoadedModel>;
  /** The fixture set's root: `repo` and LoRA paths are relative to it. */
  root: ModelSource;
  /** Stores an output (`outputs.<name>`), e.g. for `peft_add_weighted_adapter`. */
  emit(name: string, tensor: CaseTensor): void;
  /**
   * Whether the case lists `name` among its outputs (absent: every name counts as listed). A
   * combination PEFT refused is not stored, so the op can tell an expected refusal from a failure.
   */
  wants?(name: string): boolean;
}

export interface CaseStateOps {
  apply(op: StateOp, ctx: CaseStateContext): Promise<void>;
  /**
   * Runs one forward or pipeline call with `cross_attention_kwargs={"scale": scale}`; for a
   * pipeline call Diffusers applies it to the text encoders' LoRA too (its `lora_scale`).
   */
  withScale<T>(scale: number, ctx: CaseStateContext, body: () => Promise<T>): Promise<T>;
  /** `get_weight`: the module's base weight plus what is fused into it; undefined: read the base. */
  fusedWeight(component: string, module: string, ctx: CaseStateContext): Promise<CaseTensor | undefined>;
}

/** No adapters: state ops are refused; a scale changes nothing (nothing can be loaded to scale). */
export const baseStateOps: CaseStateOps = {
  async apply(op) {
    throw new LorafuseError(
      'not-implemented',
      `case op '${op.op}' is not implemented yet: the case runner has no adapter manager, so only base cases (no LoRA state ops) run.`,
      { op: op.op },
    );
  },
  withScale: (_scale, _ctx, body) => body(),
  fusedWeight: async () => undefined,
};
