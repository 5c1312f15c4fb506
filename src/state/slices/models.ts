import type { StateCreator } from 'zustand';
import type { RepoFile } from '../../api.ts';
import type { AppState, Middlewares } from '../store.ts';

export type ListingStatus = 'idle' | 'loading' | 'done' | 'error';

export interface ModelsSlice {
  /** The base model's Hub repo id as typed, e.g. `stable-diffusion-v1-5/stable-diffusion-v1-5`. */
  modelRepo: string;
  /** Branch, tag or commit; empty means the default branch. */
  modelRevision: string;
  listingStatus: ListingStatus;
  /** The files of `listedRepo` at `listedRevision`, from the last successful listing. */
  files: RepoFile[];
  listedRepo: string | null;
  listedRevision: string | null;
  setModelRepo(repo: string): void;
  setModelRevision(revision: string): void;
  startListing(): void;
  finishListing(repo: string, revision: string, files: RepoFile[]): void;
  failListing(): void;
}

export const createModelsSlice: StateCreator<AppState, Middlewares, [], ModelsSlice> = (set) => ({
  modelRepo: '',
  modelRevision: '',
  listingStatus: 'idle',
  files: [],
  listedRepo: null,
  listedRevision: null,
  setModelRepo: (modelRepo) => set({ modelRepo }),
  setModelRevision: (modelRevision) => set({ modelRevision }),
  startListing: () => set({ listingStatus: 'loading' }),
  finishListing: (listedRepo, listedRevision, files) =>
    set({ listingStatus: 'done', listedRepo, listedRevision, files }),
  failListing: () => set({ listingStatus: 'error', files: [], listedRepo: null, listedRevision: null }),
});
