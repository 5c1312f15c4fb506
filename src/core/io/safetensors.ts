/** Safetensors I/O: the public API (see ./safetensors/ for the parts). */

export { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, toFloat32 } from './safetensors/convert.ts';
export type { Dtype } from './safetensors/dtype.ts';
export { DTYPES, dtypeSize, isDtype } from './safetensors/dtype.ts';
export type { SafetensorsFile } from './safetensors/file.ts';
export { readSafetensors } from './safetensors/file.ts';
export type {
  UploadAllOptions,
  UploadDtype,
  UploadOptions,
  UploadProgress,
} from './safetensors/gpu-upload.ts';
export { DEFAULT_CHUNK_BYTES, uploadAll, uploadedByteSize, uploadTensor } from './safetensors/gpu-upload.ts';
export type { SafetensorsHeader, TensorInfo } from './safetensors/header.ts';
export { MAX_HEADER_BYTES, parseHeader } from './safetensors/header.ts';
export type { SafetensorsReader } from './safetensors/reader.ts';
export { elementCount, openSafetensors } from './safetensors/reader.ts';
export type { ByteSource, HttpSourceOptions } from './safetensors/sources.ts';
export { blobSource, bufferSource, httpSource } from './safetensors/sources.ts';
export type { TensorToWrite } from './safetensors/writer.ts';
export { writeSafetensors } from './safetensors/writer.ts';
