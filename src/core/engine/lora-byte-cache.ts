/**
 * The bytes of the LoRA files the engine holds (read, or made by a merge), by file name, bounded
 * by a byte budget: when the total passes it, the least recently used entries are dropped (`get`
 * and `set` count as use; `has` and iteration do not). Never dropped: the most recently used entry
 * (a file larger than the whole budget is still kept, alone) and entries marked in use
 * (`markInUse`), such as a merged adapter, whose bytes cannot be read again. A dropped file is
 * read again by adding the LoRA again.
 *
 * It is a `Map<string, Uint8Array>` (iteration goes from least to most recently used), so it
 * stands where the engine's plain `Map` did.
 */
import { LorafuseError } from '../../errors.ts';

/** 2 GiB: a few dozen SDXL LoRAs, well under a browser tab's memory. */
export const DEFAULT_LORA_BYTES_BUDGET = 2 * 1024 ** 3;

export class LoraByteCache extends Map<string, Uint8Array> {
  readonly budget: number;
  readonly #inUse = new Set<string>();
  #bytes = 0;

  constructor(budget: number = DEFAULT_LORA_BYTES_BUDGET) {
    super();
    if (!(Number.isFinite(budget) && budget >= 0)) {
      throw new LorafuseError(
        'invalid-argument',
        `LoRA byte budget must be a number of bytes >= 0, got ${budget}.`,
        { budget },
      );
    }
    this.budget = budget;
  }

  /** Bytes held now (over the budget only through entries that may not be dropped). */
  get totalBytes(): number {
    return this.#bytes;
  }

  /** The bytes of `key`, which become the most recently used. */
  override get(key: string): Uint8Array | undefined {
    const bytes = super.get(key);
    if (bytes === undefined) return undefined;
    super.delete(key);
    super.set(key, bytes);
    return bytes;
  }

  /** Adds or replaces `key` as the most recently used, then drops old entries over the budget. */
  override set(key: string, bytes: Uint8Array): this {
    this.#remove(key);
    super.set(key, bytes);
    this.#bytes += bytes.byteLength;
    this.#evict();
    return this;
  }

  /** Removes `key` and its in-use mark; true when it was there. */
  override delete(key: string): boolean {
    this.#inUse.delete(key);
    return this.#remove(key);
  }

  override clear(): void {
    super.clear();
    this.#inUse.clear();
    this.#bytes = 0;
  }

  override getOrInsert(key: string, bytes: Uint8Array): Uint8Array {
    return this.getOrInsertComputed(key, () => bytes);
  }

  override getOrInsertComputed(key: string, make: (key: string) => Uint8Array): Uint8Array {
    const held = this.get(key);
    if (held !== undefined) return held;
    const bytes = make(key);
    this.set(key, bytes);
    return bytes;
  }

  /** Marks `key` as in use (never dropped) or not; a mark on an absent key waits for its `set`. */
  markInUse(key: string, inUse = true): void {
    if (inUse) {
      this.#inUse.add(key);
      return;
    }
    this.#inUse.delete(key);
    this.#evict();
  }

  isInUse(key: string): boolean {
    return this.#inUse.has(key);
  }

  #remove(key: string): boolean {
    const old = super.get(key);
    if (old === undefined) return false;
    super.delete(key);
    this.#bytes -= old.byteLength;
    return true;
  }

  /** Drops least recently used entries, never the most recent or one in use, until within the budget. */
  #evict(): void {
    if (this.#bytes <= this.budget) return;
    const keys = [...this.keys()];
    for (const key of keys.slice(0, -1)) {
      if (this.#bytes <= this.budget) return;
      if (!this.#inUse.has(key)) this.#remove(key);
    }
  }
}
