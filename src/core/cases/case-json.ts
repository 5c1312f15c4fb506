/**
 * The reference-case JSON of tests/fixtures/cases (see tests/fixtures/README.md): a model, ops run
 * in order on a freshly loaded pipeline, and the outputs they store. Only the fields the runner
 * reads are typed; the rest (checks, notes, versions) travel untouched.
 */
import { LorafuseError } from '../../errors.ts';

export type CaseKind = 'forward' | 'text_encoder' | 'pipeline' | 'weighted_adapter' | string;

export interface UnetForwardOp {
  op: 'unet_forward';
  sample: string;
  timestep: number;
  encoder_hidden_states: string;
  added_cond_kwargs?: { text_embeds: string; time_ids: string };
  cross_attention_kwargs?: { scale?: number };
  out: string;
}

export interface TextEncoderForwardOp {
  op: 'text_encoder_forward';
  component: string;
  input_ids: string;
  /** Output of the encoder (`last_hidden_state`, `penultimate_hidden_state`, `pooler_output` or `text_embeds`) to stored name. */
  outputs: Record<string, string>;
}

export interface VaeDecodeOp {
  op: 'vae_decode';
  latents: string;
  out: string;
}

export interface GetWeightOp {
  op: 'get_weight';
  component: string;
  module: string;
  out: string;
}

export interface PipelineCallOp {
  op: 'pipeline_call';
  prompt: string;
  negative_prompt: string | null;
  num_inference_steps: number;
  guidance_scale: number;
  scheduler: { class: string; overrides?: Record<string, unknown> };
  latents?: string | null;
  output_type: string;
  height: number;
  width: number;
  generator_seed?: number;
  eta?: number;
  out: string;
  cross_attention_kwargs?: { scale?: number };
  callback_set_adapters?: { adapter_names: string[]; weights_per_step: unknown[] };
}

/** Ops that change the pipeline's LoRA state; run through `CaseStateOps`. */
export const STATE_OPS = [
  'load_lora_weights',
  'set_adapters',
  'fuse_lora',
  'unfuse_lora',
  'disable_lora',
  'enable_lora',
  'delete_adapters',
  'unload_lora_weights',
  'enable_lora_hotswap',
  'peft_add_weighted_adapter',
] as const;

export type StateOpName = (typeof STATE_OPS)[number];

/** A state op as the case writes it: its name plus its own fields. */
export interface StateOp {
  op: StateOpName;
  [field: string]: unknown;
}

export type CaseOp =
  | UnetForwardOp
  | TextEncoderForwardOp
  | VaeDecodeOp
  | GetWeightOp
  | PipelineCallOp
  | StateOp;

export interface CaseJson {
  case: string;
  kind: CaseKind;
  model: string;
  ops: CaseOp[];
  tensors_file: string;
  outputs: Record<string, { shape: number[] }>;
  [field: string]: unknown;
}

const COMPUTE_OPS = ['unet_forward', 'text_encoder_forward', 'vae_decode', 'get_weight', 'pipeline_call'];

export function isStateOp(op: CaseOp): op is StateOp {
  return (STATE_OPS as readonly string[]).includes(op.op);
}

function bad(file: string, what: string): LorafuseError {
  return new LorafuseError('config-invalid', `${file}: ${what}`, { file });
}

/** Checks the shape of a parsed case (fields the runner needs, known op names). */
export function parseCaseJson(json: unknown, file = 'case.json'): CaseJson {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw bad(file, 'expected a JSON object.');
  const c = json as Record<string, unknown>;
  for (const key of ['case', 'model', 'tensors_file'] as const) {
    if (typeof c[key] !== 'string') throw bad(file, `'${key}' must be a string.`);
  }
  if (!Array.isArray(c.ops)) throw bad(file, "'ops' must be a list.");
  if (typeof c.outputs !== 'object' || c.outputs === null) throw bad(file, "'outputs' must be an object.");
  c.ops.forEach((op, i) => {
    const name = (op as { op?: unknown } | null)?.op;
    if (typeof name !== 'string') throw bad(file, `ops[${i}] has no 'op' name.`);
    if (!COMPUTE_OPS.includes(name) && !(STATE_OPS as readonly string[]).includes(name)) {
      throw new LorafuseError(
        'not-implemented',
        `${file}: ops[${i}] '${name}' is not an op the case runner knows (${[...COMPUTE_OPS, ...STATE_OPS].join(', ')}).`,
        { file, op: name },
      );
    }
  });
  return { kind: 'forward', ...c } as CaseJson;
}

/** README tolerances: 1e-3 max abs for pipeline outputs and images, 1e-4 for everything else. */
export function caseTolerance(c: Pick<CaseJson, 'kind'>): number {
  return c.kind === 'pipeline' ? 1e-3 : 1e-4;
}
