/**
 * The one error type of lorafuse. Every failure a user can meet carries a stable `code`, the
 * offending file/key/shape in `details`, and a message that says what to do next.
 */
export type ErrorCode =
  | 'webgpu-unavailable'
  | 'device-lost'
  | 'engine-lost'
  | 'out-of-memory'
  | 'safetensors-invalid'
  | 'pickle-refused'
  | 'hub-not-found'
  | 'hub-unauthorized'
  | 'hub-network'
  | 'hub-invalid-repo'
  | 'cache-miss'
  | 'lora-unmapped-keys'
  | 'lora-shape-mismatch'
  | 'lora-invalid'
  | 'lora-nonfinite'
  | 'config-invalid'
  | 'gpu-kernel'
  | 'invalid-argument'
  | 'not-implemented'
  | 'cancelled'
  | 'internal';

export type ErrorDetails = Record<string, unknown>;

export class LorafuseError extends Error {
  override readonly name = 'LorafuseError';
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = details;
  }

  /** Plain-object form that survives structured clone (worker -> UI). */
  toJSON(): SerializedError {
    return { name: this.name, code: this.code, message: this.message, details: this.details };
  }

  static fromJSON(s: SerializedError): LorafuseError {
    return new LorafuseError(s.code, s.message, s.details);
  }
}

export interface SerializedError {
  name: 'LorafuseError';
  code: ErrorCode;
  message: string;
  details: ErrorDetails;
}

export function isLorafuseError(e: unknown): e is LorafuseError {
  return e instanceof LorafuseError;
}

/** Wraps anything thrown into a LorafuseError, keeping an existing one as is. */
export function toLorafuseError(e: unknown, fallback: ErrorCode = 'internal'): LorafuseError {
  if (e instanceof LorafuseError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new LorafuseError(fallback, message, {}, { cause: e });
}
