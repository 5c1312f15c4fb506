import type { StateCreator } from 'zustand';
import type { AppState, Middlewares } from '../store.ts';

/** A finished image of this session: a PNG (with its `parameters` chunk) behind an object URL. */
export interface GalleryImage {
  id: number;
  /** `blob:` URL of the PNG; revoked when the image leaves the gallery. */
  url: string;
  width: number;
  height: number;
  /** The A1111 infotext written in the PNG. */
  infotext: string;
  /** Download file name. */
  fileName: string;
}

export interface GallerySlice {
  gallery: GalleryImage[];
  /** Newest first. */
  addGalleryImage(image: GalleryImage): void;
  /** Removes one image and revokes its URL. */
  removeGalleryImage(id: number): void;
}

export const createGallerySlice: StateCreator<AppState, Middlewares, [], GallerySlice> = (set, get) => ({
  gallery: [],
  addGalleryImage: (image) => set({ gallery: [image, ...get().gallery] }),
  removeGalleryImage: (id) => {
    const img = get().gallery.find((g) => g.id === id);
    if (img) URL.revokeObjectURL(img.url);
    set({ gallery: get().gallery.filter((g) => g.id !== id) });
  },
});
