/**
 * The adapters the engine holds in the adapter manager of the loaded model, by the file each was
 * read from, and the LoRA panel's operations on them: fuse, unfuse, merge (`addWeightedAdapter`),
 * save, delete. Generation requests go through `sync`, which agrees with these operations:
 * - an adapter whose file changed under the same name is hotswapped (`loadLoraWeights(...,
 *   {hotswap: true})`), not deleted and reloaded;
 * - a fused adapter stays loaded and fused until `unfuse`, whether later requests name it or not
 *   (what is fused is part of the base; a request's weight for it does nothing);
 * - a merged adapter has a file too: the engine writes it as PEFT safetensors into the same
 *   bytes map as read files, so once a request leaves it out and it is deleted, a later request
 *   loads it back from those bytes.
 */
import type { AdapterFileFormat, AdapterRef, FuseRequest, MergeRequest } from '../../api.ts';
import { LorafuseError } from '../../errors.ts';
import type { Component } from '../lora/adapter.ts';
import type { AdapterManager, AdapterWeightInput } from '../pipeline/adapters.ts';
import { stepAdapterWeights } from '../pipeline/step-weights.ts';
import type { LoraByteCache } from './lora-byte-cache.ts';

function invalid(message: string, details: Record<string, unknown> = {}): LorafuseError {
  return new LorafuseError('invalid-argument', message, details);
}

export class EngineAdapters {
  /** adapterName -> file it holds now. */
  private readonly held = new Map<string, string>();
  private readonly fused = new Set<string>();
  private merges = 0;

  constructor(
    private readonly manager: AdapterManager,
    /** The bytes of every LoRA file read (and merged) so far, by `LoraSummary.file`. */
    private readonly bytes: LoraByteCache,
  ) {}

  /** The fused adapters, in fuse order. */
  fusedNames(): string[] {
    return [...this.fused];
  }

  /** Holds exactly the request's adapters plus the fused ones: deletes the others, loads or hotswaps the rest. */
  async sync(refs: readonly AdapterRef[]): Promise<void> {
    const wanted = new Set(refs.map((r) => r.adapterName));
    const stale = [...this.held.keys()].filter((n) => !wanted.has(n) && !this.fused.has(n));
    if (stale.length > 0) {
      await this.manager.deleteAdapters(stale);
      for (const n of stale) this.held.delete(n);
    }
    await this.hold(refs);
  }

  /** `setAdapters` on the manager: the request's adapters at one step's weights. */
  setWeights(names: readonly string[], weights: readonly AdapterWeightInput[]): Promise<void> {
    return this.manager.setAdapters(names, weights);
  }

  /** Loads the adapters not held yet; one held under another file is hotswapped to this one. */
  async hold(refs: readonly AdapterRef[]): Promise<void> {
    for (const { adapterName: name, file } of refs) {
      const current = this.held.get(name);
      if (current === file) continue;
      if (this.fused.has(name)) {
        throw invalid(`"${name}" is fused (from ${current}); unfuse before replacing it with ${file}.`, {
          adapterName: name,
          file,
          fusedFile: current,
        });
      }
      const bytes = this.bytes.get(file);
      if (!bytes) {
        throw invalid(
          `The engine no longer holds ${file} (adapter "${name}"); remove the LoRA and add it again.`,
          {
            adapterName: name,
            file,
          },
        );
      }
      await this.manager.loadLoraWeights(
        { bytes, name: file },
        { adapterName: name, ...(current !== undefined ? { hotswap: true } : {}) },
      );
      this.held.set(name, file);
    }
  }

  async fuse(request: FuseRequest): Promise<string[]> {
    const names = request.adapters.map((a) => a.adapterName);
    if (names.length === 0) throw invalid('fuseLora: choose at least one adapter to fuse.');
    if (!Number.isFinite(request.loraScale)) {
      throw invalid(`fuseLora: loraScale must be a finite number, got ${request.loraScale}.`, {
        loraScale: request.loraScale,
      });
    }
    const again = names.filter((n) => this.fused.has(n));
    if (again.length > 0) {
      throw invalid(`fuseLora: ${again.map((n) => `"${n}"`).join(', ')} already fused; unfuse first.`, {
        adapters: again,
      });
    }
    await this.hold(request.adapters);
    const plan = request.adapters.map((a) => ({ name: a.adapterName, weight: a.weight }));
    await this.manager.setAdapters(names, stepAdapterWeights(plan, 1, 0, 1));
    await this.manager.fuseLora({ adapterNames: names, loraScale: request.loraScale });
    for (const n of names) this.fused.add(n);
    return this.fusedNames();
  }

  async unfuse(): Promise<void> {
    await this.manager.unfuseLora();
    this.fused.clear();
  }

  /** Combines held adapters into a new one and writes it as a PEFT file under a new `file` key. */
  async merge(request: MergeRequest): Promise<{ file: string; bytes: Uint8Array }> {
    const name = request.adapterName.trim();
    if (!name) throw invalid('addWeightedAdapter: give the merged adapter a name.');
    if (this.held.has(name)) {
      throw invalid(`addWeightedAdapter: "${name}" is in use; pick another name for the merged adapter.`, {
        adapterName: name,
      });
    }
    await this.hold(request.adapters);
    await this.manager.addWeightedAdapter({
      adapters: request.adapters.map((a) => a.adapterName),
      weights: request.weights,
      adapterName: name,
      combinationType: request.combinationType,
      ...(request.density !== undefined ? { density: request.density } : {}),
      ...(request.majoritySignMethod !== undefined ? { majoritySignMethod: request.majoritySignMethod } : {}),
      ...(request.svdRank !== undefined ? { svdRank: request.svdRank } : {}),
      ...(request.seed !== undefined ? { seed: request.seed } : {}),
    });
    const bytes = this.manager.saveLoraAdapter(name, { format: 'peft' });
    // A fresh key per merge, so a later merge under a reused name never meets stale bytes; the
    // last segment (`fileStem`, the default adapter name) is `name`.
    const file = `merged/${++this.merges}/${name}.safetensors`;
    this.bytes.set(file, bytes);
    // Nothing can read a merged adapter again: its bytes are never dropped from the cache.
    this.bytes.markInUse(file);
    this.held.set(name, file);
    return { file, bytes };
  }

  async save(ref: AdapterRef, format: AdapterFileFormat): Promise<Uint8Array> {
    await this.hold([ref]);
    return this.manager.saveLoraAdapter(ref.adapterName, { format });
  }

  /** The component's weights with what is fused folded in (the manager's `exportFusedWeights`). */
  async exportFused(component: Component): Promise<Uint8Array> {
    const out = await this.manager.exportFusedWeights({ components: [component] });
    const bytes = out[component];
    if (!bytes) {
      throw invalid(`exportFusedWeights: the model has no ${component}.`, { component });
    }
    return bytes;
  }

  async delete(names: readonly string[]): Promise<void> {
    const fused = names.filter((n) => this.fused.has(n));
    if (fused.length > 0) {
      throw invalid(`deleteAdapters: ${fused.map((n) => `"${n}"`).join(', ')} fused; unfuse first.`, {
        adapters: fused,
      });
    }
    const held = names.filter((n) => this.held.has(n));
    if (held.length === 0) return;
    await this.manager.deleteAdapters(held);
    for (const n of held) this.held.delete(n);
  }
}
