/**
 * Plain LoRA / LoCon product `up · down` (LORA-FORMATS.md 3.1), unscaled. `down` is [r,in] or
 * [r,in,kh,kw], `up` is [out,r] or [out,r,1,1]; the result keeps the kernel of `down`:
 * [out,in] or [out,in,kh,kw] (a k x k conv delta is `up.view(out,r) · down.view(r, in*kh*kw)`).
 */
import type { AdapterModule, F32Tensor } from '../adapter.ts';
import { matmul } from './matmul.ts';
import { cols, factor, numel, rows, shapeMismatch, tensor } from './tensor.ts';

export function loraProduct(m: AdapterModule): F32Tensor {
  const down = factor(m, 'down');
  const up = factor(m, 'up');
  const r = rows(down);
  const out = rows(up);
  if (up.shape.length < 2 || up.shape[1] !== r || numel(up.shape.slice(2)) !== 1) {
    throw shapeMismatch(
      m,
      `up [${up.shape}] does not fit down [${down.shape}]: expected up [out, ${r}(,1,1)]`,
      {
        up: up.shape,
        down: down.shape,
      },
    );
  }
  const n = cols(down);
  return tensor([out, ...down.shape.slice(1)], matmul(up.data, down.data, out, r, n));
}
