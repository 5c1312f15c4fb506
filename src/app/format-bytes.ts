const UNITS = ['B', 'kB', 'MB', 'GB', 'TB'] as const;

/** Decimal units as the Hub shows them: 823 -> "823 B", 1234 -> "1.23 kB", 3.5e9 -> "3.5 GB". */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '?';
  let unit = 0;
  let value = bytes;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  const shown = unit === 0 ? String(value) : String(Number(value.toPrecision(3)));
  return `${shown} ${UNITS[unit]}`;
}
