/**
 * Gallery: every image finished in this session, newest first, with its A1111 parameters and a
 * "Download PNG" link (the PNG carries them in its `parameters` chunk). "Restore from PNG" (a file
 * input, or a PNG dropped on the panel) reads that chunk back into the Generate panel and LoRAs.
 */
import { type DragEvent, useState } from 'react';
import { useAppStore } from '../state/store.ts';
import { useActions } from './actions-context.tsx';

export function Gallery() {
  const actions = useActions();
  const images = useAppStore((s) => s.gallery);
  const [over, setOver] = useState(false);
  const restore = (file: File | undefined) => {
    if (file) void actions.restoreFromPng(file);
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    restore(e.dataTransfer.files[0]);
  };
  return (
    <section
      className={`panel${over ? ' drop-target' : ''}`}
      aria-labelledby="gallery-heading"
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={onDrop}
    >
      <h2 id="gallery-heading">Gallery</h2>
      <label className="field">
        <span>Restore from PNG</span>
        <input
          type="file"
          accept="image/png"
          onChange={(e) => {
            restore(e.currentTarget.files?.[0]);
            e.currentTarget.value = '';
          }}
        />
      </label>
      {images.length === 0 ? (
        <p>No images yet. Finished images appear here; drop a PNG here to restore its settings.</p>
      ) : (
        <ul className="gallery" aria-label="Gallery images">
          {images.map((img) => (
            <li key={img.id} aria-label={img.fileName}>
              <figure>
                <img src={img.url} width={img.width} height={img.height} alt={img.fileName} />
                <figcaption>
                  <pre className="infotext">{img.infotext}</pre>
                </figcaption>
              </figure>
              <a href={img.url} download={img.fileName}>
                Download PNG
              </a>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
