/**
 * Framework-free checks for the kernel cases that run both in Node (vitest on Dawn) and in
 * Chromium (tests/browser/kernels-page.ts): each throws an `Error` saying what differed, which
 * vitest reports as a failure and the page sends back to tests/e2e/kernels-webgpu.test.ts.
 */

export function check(ok: boolean, message: string): asserts ok {
  if (!ok) throw new Error(message);
}

function plain(v: unknown): unknown {
  return ArrayBuffer.isView(v) && !(v instanceof DataView)
    ? Array.from(v as unknown as ArrayLike<number>)
    : v;
}

/** Structural equality of JSON-like values (typed arrays compare as arrays of numbers). */
export function deepEqual(a: unknown, b: unknown): boolean {
  const x = plain(a);
  const y = plain(b);
  if (Object.is(x, y)) return true;
  if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) return false;
  if (Array.isArray(x) !== Array.isArray(y)) return false;
  const kx = Object.keys(x);
  const ky = Object.keys(y);
  if (kx.length !== ky.length) return false;
  return kx.every(
    (k) =>
      Object.hasOwn(y, k) && deepEqual((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k]),
  );
}

function show(v: unknown): string {
  const s = JSON.stringify(plain(v));
  return s !== undefined && s.length > 400 ? `${s.slice(0, 400)}...` : String(s);
}

export function checkEqual(actual: unknown, expected: unknown, what: string): void {
  check(deepEqual(actual, expected), `${what}: got ${show(actual)}, expected ${show(expected)}`);
}

export function checkAtMost(value: number, limit: number, what: string): void {
  check(value <= limit, `${what}: ${value} is not <= ${limit}`);
}

export function checkAbove(value: number, limit: number, what: string): void {
  check(value > limit, `${what}: ${value} is not > ${limit}`);
}

/** The promise rejects with an error whose own fields include `fields` (e.g. `{ code }`); returns it. */
export async function checkRejects(
  promise: Promise<unknown>,
  fields: Record<string, unknown>,
  what: string,
): Promise<unknown> {
  let error: unknown;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  check(error !== undefined, `${what}: expected a rejection with ${show(fields)}, but it resolved`);
  for (const [k, v] of Object.entries(fields)) {
    const got = (error as Record<string, unknown>)[k];
    check(deepEqual(got, v), `${what}: error.${k} is ${show(got)}, expected ${show(v)} (${String(error)})`);
  }
  return error;
}

/** `fn` throws an error whose message matches `pattern`. */
export function checkThrows(fn: () => unknown, pattern: RegExp, what: string): void {
  try {
    fn();
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    check(pattern.test(message), `${what}: threw '${message}', expected a message matching ${pattern}`);
    return;
  }
  throw new Error(`${what}: expected a throw matching ${pattern}, but nothing was thrown`);
}
