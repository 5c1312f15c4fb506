/** Saves bytes as a download named `fileName` (an object URL on a temporary link). */
export function downloadBytes(bytes: Uint8Array, fileName: string): void {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>]));
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.click();
  // Revoked later: the download reads the URL after this returns.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
