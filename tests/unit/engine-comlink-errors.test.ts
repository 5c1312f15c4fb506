import * as Comlink from 'comlink';
import { afterEach, describe, expect, it } from 'vitest';
import { registerErrorTransfer } from '../../src/core/engine/comlink-errors.ts';
import { LorafuseError } from '../../src/errors.ts';

/** Both ends in one process over a MessageChannel: the same path as app <-> worker. */
const ports: MessagePort[] = [];
function connect<T extends object>(obj: T): Comlink.Remote<T> {
  const { port1, port2 } = new MessageChannel();
  ports.push(port1, port2);
  Comlink.expose(obj, port1);
  return Comlink.wrap<T>(port2);
}
afterEach(() => {
  for (const p of ports.splice(0)) p.close();
});

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

registerErrorTransfer();

describe('LorafuseError across comlink', () => {
  const api = {
    async fail(): Promise<never> {
      throw new LorafuseError('hub-not-found', 'Repository x/y not found on http://h', {
        repo: 'x/y',
        status: 404,
      });
    },
    async failPlain(): Promise<never> {
      throw new TypeError('plain failure');
    },
    async failWithFunction(): Promise<never> {
      throw new LorafuseError('internal', 'odd details', { fn: () => 1, ok: [1, 2] });
    },
    async returnError(): Promise<LorafuseError> {
      return new LorafuseError('lora-invalid', 'returned, not thrown', { key: 'k' });
    },
  };

  it('a thrown LorafuseError keeps class, code, message, details and the worker stack', async () => {
    const e = await rejection(connect(api).fail());
    expect(e).toBeInstanceOf(LorafuseError);
    const err = e as LorafuseError;
    expect(err.code).toBe('hub-not-found');
    expect(err.message).toBe('Repository x/y not found on http://h');
    expect(err.details).toEqual({ repo: 'x/y', status: 404 });
    expect(err.stack).toContain('fail');
  });

  it('other errors keep comlink behaviour (an Error with the message)', async () => {
    const e = await rejection(connect(api).failPlain());
    expect(e).not.toBeInstanceOf(LorafuseError);
    expect((e as Error).message).toBe('plain failure');
  });

  it('details that cannot be cloned are described instead of breaking the call', async () => {
    const err = (await rejection(connect(api).failWithFunction())) as LorafuseError;
    expect(err).toBeInstanceOf(LorafuseError);
    expect(err.details.ok).toEqual([1, 2]);
    expect(err.details.fn).toMatch(/not cloneable/);
  });

  it('a returned LorafuseError arrives as a LorafuseError', async () => {
    const err = await connect(api).returnError();
    expect(err).toBeInstanceOf(LorafuseError);
    expect(err.code).toBe('lora-invalid');
    expect(err.details).toEqual({ key: 'k' });
  });

  it('registering twice is harmless', async () => {
    registerErrorTransfer();
    const e = await rejection(connect(api).fail());
    expect((e as LorafuseError).code).toBe('hub-not-found');
  });
});
