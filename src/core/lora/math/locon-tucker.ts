/**
 * Tucker reconstruction (LyCORIS `rebuild_tucker`, einsum "i j ..., i p, j q -> p q ...") and the
 * LoCon Tucker product (LORA-FORMATS.md 3.1): ΔW[o,i,h,w] = Σ_{a,b} up[o,a] · mid[a,b,h,w] · down[b,i].
 */
import type { AdapterModule, F32Tensor } from '../adapter.ts';
import { matmulTN, transpose } from './matmul.ts';
import { cols, factor, numel, rows, shapeMismatch, tensor } from './tensor.ts';

/**
 * K[p,q,...] = Σ_{i,j} t[i,j,...] · wa[i,p] · wb[j,q], for t [r1,r2,...kernel], wa [r1,p], wb [r2,q].
 * Returns [p, q, ...kernel]. Throws a plain Error on mismatched shapes; callers name the module.
 */
export function rebuildTucker(t: F32Tensor, wa: F32Tensor, wb: F32Tensor): F32Tensor {
  const [r1 = 0, r2 = 0] = t.shape;
  const kernel = t.shape.slice(2);
  const kk = numel(kernel);
  const p = cols(wa);
  const q = cols(wb);
  if (t.shape.length < 2 || rows(wa) !== r1 || rows(wb) !== r2) {
    throw new Error(`tucker core [${t.shape}] does not fit factors [${wa.shape}] and [${wb.shape}]`);
  }
  // tmp[i, (q, k)] = Σ_j t[i, j, k] · wb[j, q], one contiguous row over q per (i, k)
  const qk = q * kk;
  const tmp = new Float32Array(r1 * qk);
  const acc = new Float64Array(q);
  for (let i = 0; i < r1; i++) {
    for (let k = 0; k < kk; k++) {
      acc.fill(0);
      for (let j = 0; j < r2; j++) {
        const tijk = t.data[(i * r2 + j) * kk + k]!;
        if (tijk === 0) continue;
        const wj = j * q;
        for (let c = 0; c < q; c++) acc[c]! += tijk * wb.data[wj + c]!;
      }
      const o = i * qk + k;
      for (let c = 0; c < q; c++) tmp[o + c * kk] = acc[c]!;
    }
  }
  // K[p, (q, k)] = Σ_i wa[i, p] · tmp[i, (q, k)]
  return tensor([p, q, ...kernel], matmulTN(wa.data, tmp, r1, p, qk));
}

export function loconTuckerProduct(m: AdapterModule): F32Tensor {
  const down = factor(m, 'down');
  const mid = factor(m, 'mid');
  const up = factor(m, 'up');
  const out = rows(up);
  const ru = cols(up);
  const rd = rows(down);
  if (numel(down.shape.slice(2)) !== 1 || mid.shape[0] !== ru || mid.shape[1] !== rd) {
    throw shapeMismatch(
      m,
      `lora_mid [${mid.shape}] does not fit up [${up.shape}] and down [${down.shape}]: expected mid [${ru}, ${rd}, kh, kw] and a 1x1 down`,
      { up: up.shape, mid: mid.shape, down: down.shape },
    );
  }
  const inCh = down.shape[1] ?? 1;
  const wa = tensor([ru, out], transpose(up.data, out, ru));
  const wb = tensor([rd, inCh], down.data);
  return rebuildTucker(mid, wa, wb);
}
