/**
 * Small helpers on the canonical `F32Tensor` (row-major float32): element counts, checked
 * construction, rows/columns and factor lookup with a clear error when a module misses one.
 */
import { LorafuseError } from '../../../errors.ts';
import { type AdapterModule, type F32Tensor, moduleId } from '../adapter.ts';

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function tensor(shape: readonly number[], data: Float32Array): F32Tensor {
  if (numel(shape) !== data.length) {
    throw new LorafuseError(
      'internal',
      `tensor of shape [${shape.join(',')}] needs ${numel(shape)} values, got ${data.length}`,
      { shape: [...shape], length: data.length },
    );
  }
  return { shape: [...shape], data };
}

/** Rows = first dimension, columns = the product of the others (a conv weight as [out, in*kh*kw]). */
export function rows(t: F32Tensor): number {
  return t.shape[0] ?? 1;
}

export function cols(t: F32Tensor): number {
  return t.shape.length === 0 ? 1 : numel(t.shape.slice(1));
}

/** The named factor of a module, or a `lora-invalid` error naming the module and its keys. */
export function factor(m: AdapterModule, name: string): F32Tensor {
  const t = m.factors[name];
  if (!t) {
    throw new LorafuseError(
      'lora-invalid',
      `module ${moduleId(m)} (${m.kind}) has no '${name}' factor; keys read: ${m.sourceKeys.join(', ')}. ` +
        'The file is incomplete or was converted wrongly.',
      { module: moduleId(m), kind: m.kind, factor: name, keys: m.sourceKeys },
    );
  }
  return t;
}

export function shapeMismatch(
  m: AdapterModule,
  what: string,
  details: Record<string, unknown>,
): LorafuseError {
  return new LorafuseError('lora-shape-mismatch', `module ${moduleId(m)} (${m.kind}): ${what}`, {
    module: moduleId(m),
    kind: m.kind,
    keys: m.sourceKeys,
    ...details,
  });
}
