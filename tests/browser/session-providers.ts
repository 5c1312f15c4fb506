/**
 * The execution providers asked for by every onnxruntime-web session a test page creates:
 * `InferenceSession.create` is wrapped once, when this module is imported. The pages send them
 * back to prove how many sessions were made and that none fell back to wasm.
 */
import * as ort from 'onnxruntime-web';

export const sessionProviders: string[][] = [];

const create = ort.InferenceSession.create.bind(ort.InferenceSession);
(ort.InferenceSession as { create: typeof create }).create = ((...args: Parameters<typeof create>) => {
  const options = args.find(
    (a, i) => i > 0 && typeof a === 'object' && a !== null && !ArrayBuffer.isView(a),
  ) as ort.InferenceSession.SessionOptions | undefined;
  sessionProviders.push((options?.executionProviders ?? []).map((p) => (typeof p === 'string' ? p : p.name)));
  return create(...args);
}) as typeof create;
