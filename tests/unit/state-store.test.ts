import { describe, expect, it } from 'vitest';
import { LorafuseError } from '../../src/errors.ts';
import { createEngineSlice } from '../../src/state/slices/engine.ts';
import { createGenerationSlice, DEFAULT_GENERATION } from '../../src/state/slices/generation.ts';
import { createLorasSlice, type LoraEntry } from '../../src/state/slices/loras.ts';
import { createModelsSlice } from '../../src/state/slices/models.ts';
import { createSettingsSlice, selectHubUrl } from '../../src/state/slices/settings.ts';
import {
  type AppState,
  type AppStore,
  createAppStore,
  PERSIST_KEY,
  PERSIST_VERSION,
} from '../../src/state/store.ts';
import { memoryStorage, SWIFTSHADER_STATUS } from './state-test-helpers.ts';

/** The keys a slice creator defines, read by running it against a throwaway set/get. */
function sliceKeys(creator: (...a: never[]) => object): Set<string> {
  const noop = () => undefined;
  return new Set(Object.keys((creator as (...a: unknown[]) => object)(noop, noop, {})));
}

function stored(storage: ReturnType<typeof memoryStorage>): {
  state: Record<string, unknown>;
  version: number;
} {
  const raw = storage.data.get(PERSIST_KEY);
  if (raw === undefined) throw new Error(`nothing stored under ${PERSIST_KEY}`);
  return JSON.parse(raw);
}

const lora = (adapterName: string, weight = 1): LoraEntry => ({
  adapterName,
  source: { repo: 'fixtures/sd15-kohya', weightName: 'lora.safetensors' },
  weight,
  enabled: true,
});

/** Runs `act` and returns the top-level keys whose value changed (by identity). */
function changedKeys(store: AppStore, act: (s: AppState) => void): string[] {
  const before = store.getState();
  act(before);
  const after = store.getState() as unknown as Record<string, unknown>;
  const prev = before as unknown as Record<string, unknown>;
  return Object.keys(after).filter((k) => after[k] !== prev[k]);
}

describe('slices write only their own keys', () => {
  const slices = {
    models: createModelsSlice,
    loras: createLorasSlice,
    generation: createGenerationSlice,
    settings: createSettingsSlice,
    engine: createEngineSlice,
  };
  const keys = Object.fromEntries(
    Object.entries(slices).map(([name, c]) => [name, sliceKeys(c as never)]),
  ) as Record<keyof typeof slices, Set<string>>;

  it('no two slices define the same key', () => {
    const all = Object.values(keys).flatMap((k) => [...k]);
    expect(new Set(all).size).toBe(all.length);
  });

  const cases: Array<[keyof typeof slices, string, (s: AppState) => void]> = [
    ['models', 'setModelRepo', (s) => s.setModelRepo('a/b')],
    ['models', 'setModelRevision', (s) => s.setModelRevision('v1')],
    ['models', 'startListing', (s) => s.startListing()],
    ['models', 'finishListing', (s) => s.finishListing('a/b', '', [{ path: 'x', size: 1, type: 'file' }])],
    ['models', 'failListing', (s) => s.failListing()],
    ['loras', 'addLora', (s) => s.addLora(lora('style'))],
    ['generation', 'setGenerationParams', (s) => s.setGenerationParams({ prompt: 'a cat' })],
    ['settings', 'setHubUrl', (s) => s.setHubUrl('http://127.0.0.1:9')],
    ['settings', 'setSessionHubUrl', (s) => s.setSessionHubUrl('http://127.0.0.1:9')],
    ['settings', 'setToken', (s) => s.setToken('hf_x')],
    ['settings', 'setRememberToken', (s) => s.setRememberToken(true)],
    ['engine', 'setEngineStatus', (s) => s.setEngineStatus(SWIFTSHADER_STATUS)],
    ['engine', 'showError', (s) => s.showError(new LorafuseError('hub-network', 'down'))],
  ];
  for (const [slice, action, act] of cases) {
    it(`${slice}.${action}`, () => {
      const store = createAppStore(memoryStorage());
      const changed = changedKeys(store, act);
      expect(changed.length).toBeGreaterThan(0);
      for (const k of changed) expect(keys[slice].has(k), `${action} wrote "${k}"`).toBe(true);
    });
  }

  it('loras setters and generation keep other slices untouched after several edits', () => {
    const store = createAppStore(memoryStorage());
    store.getState().addLora(lora('a'));
    const changed = changedKeys(store, (s) => {
      s.setLoraWeight('a', 0.5);
      s.setLoraEnabled('a', false);
      s.removeLora('a');
    });
    expect(changed).toEqual(['loras']);
  });
});

describe('settings persistence', () => {
  it('defaults to the Hub when no build constant is defined (Node)', () => {
    const s = createAppStore(memoryStorage()).getState();
    expect(s.hubUrl).toBe('https://huggingface.co');
    expect(selectHubUrl(s)).toBe('https://huggingface.co');
  });

  it('stores the Hub URL with the version, and never the token unless asked', () => {
    const storage = memoryStorage();
    const store = createAppStore(storage);
    store.getState().setHubUrl('http://127.0.0.1:8080');
    store.getState().setToken('hf_secret');
    expect(stored(storage)).toEqual({
      state: { hubUrl: 'http://127.0.0.1:8080', rememberToken: false },
      version: PERSIST_VERSION,
    });
    expect(storage.data.get(PERSIST_KEY)).not.toContain('hf_secret');

    store.getState().setRememberToken(true);
    expect(stored(storage).state).toEqual({
      hubUrl: 'http://127.0.0.1:8080',
      rememberToken: true,
      token: 'hf_secret',
    });

    store.getState().setRememberToken(false);
    expect(storage.data.get(PERSIST_KEY)).not.toContain('hf_secret');
  });

  it('rehydrates a new store from storage', () => {
    const storage = memoryStorage();
    const first = createAppStore(storage);
    first.getState().setHubUrl('https://mirror.example');
    first.getState().setToken('hf_kept');
    first.getState().setRememberToken(true);
    first.getState().setModelRepo('not/persisted');

    const second = createAppStore(storage).getState();
    expect(second.hubUrl).toBe('https://mirror.example');
    expect(second.token).toBe('hf_kept');
    expect(second.rememberToken).toBe(true);
    expect(second.modelRepo).toBe('');
  });

  it('a token stored without rememberToken is not trusted', () => {
    const storage = memoryStorage({
      [PERSIST_KEY]: JSON.stringify({ state: { hubUrl: 'https://a.example', token: 'hf_leak' }, version: 1 }),
    });
    const s = createAppStore(storage).getState();
    expect(s.hubUrl).toBe('https://a.example');
    expect(s.token).toBe('');
  });

  it('ignores stored fields of the wrong type', () => {
    const storage = memoryStorage({
      [PERSIST_KEY]: JSON.stringify({ state: { hubUrl: 42, rememberToken: 'yes' }, version: 1 }),
    });
    const s = createAppStore(storage).getState();
    expect(s.hubUrl).toBe('https://huggingface.co');
    expect(s.rememberToken).toBe(false);
  });

  it('migrates an older version, keeping what is valid', () => {
    const storage = memoryStorage({
      [PERSIST_KEY]: JSON.stringify({ state: { hubUrl: 'https://old.example', extra: 1 }, version: 0 }),
    });
    const store = createAppStore(storage);
    expect(store.getState().hubUrl).toBe('https://old.example');
    store.getState().setToken('t');
    expect(stored(storage)).toEqual({
      state: { hubUrl: 'https://old.example', rememberToken: false },
      version: 1,
    });
  });

  it('a ?hub= URL is used for this visit only; editing the field makes it the user setting', () => {
    const storage = memoryStorage();
    const store = createAppStore(storage);
    store.getState().setSessionHubUrl('http://127.0.0.1:9000');
    expect(selectHubUrl(store.getState())).toBe('http://127.0.0.1:9000');
    expect(stored(storage).state.hubUrl).toBe('https://huggingface.co');

    store.getState().setHubUrl('http://127.0.0.1:9001');
    expect(store.getState().sessionHubUrl).toBeNull();
    expect(selectHubUrl(store.getState())).toBe('http://127.0.0.1:9001');
    expect(stored(storage).state.hubUrl).toBe('http://127.0.0.1:9001');
  });
});

describe('loras slice', () => {
  it('refuses a duplicate adapter name', () => {
    const s = createAppStore(memoryStorage()).getState();
    s.addLora(lora('style'));
    expect(() => s.addLora(lora('style'))).toThrow(/already in use/);
  });

  it('names the loaded adapters when one is unknown', () => {
    const store = createAppStore(memoryStorage());
    store.getState().addLora(lora('a'));
    store.getState().addLora(lora('b'));
    let err: unknown;
    try {
      store.getState().setLoraWeight('c', 1);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LorafuseError);
    expect((err as LorafuseError).code).toBe('invalid-argument');
    expect((err as LorafuseError).message).toContain('a, b');
  });

  it('refuses a non-finite weight', () => {
    const store = createAppStore(memoryStorage());
    store.getState().addLora(lora('a'));
    expect(() => store.getState().setLoraWeight('a', Number.NaN)).toThrow(/finite/);
    expect(store.getState().loras[0]?.weight).toBe(1);
  });
});

describe('generation slice', () => {
  it('merges a patch', () => {
    const store = createAppStore(memoryStorage());
    store.getState().setGenerationParams({ prompt: 'a cat', numInferenceSteps: 4 });
    expect(store.getState().generation).toEqual({
      ...DEFAULT_GENERATION,
      prompt: 'a cat',
      numInferenceSteps: 4,
    });
  });

  it.each([
    [{ numInferenceSteps: 0 }, 'numInferenceSteps'],
    [{ numInferenceSteps: 2.5 }, 'numInferenceSteps'],
    [{ guidanceScale: Number.POSITIVE_INFINITY }, 'guidanceScale'],
    [{ seed: -1 }, 'seed'],
    [{ width: 500 }, 'width'],
    [{ height: 0 }, 'height'],
  ])('refuses %o naming %s', (patch, field) => {
    const store = createAppStore(memoryStorage());
    expect(() => store.getState().setGenerationParams(patch)).toThrow(new RegExp(`^${field} must be`));
    expect(store.getState().generation).toBe(DEFAULT_GENERATION);
  });
});

describe('engine slice', () => {
  it('shows a LorafuseError as plain data and wraps anything else as internal', () => {
    const store = createAppStore(memoryStorage());
    store.getState().showError(new LorafuseError('hub-not-found', 'no repo x/y', { repo: 'x/y' }));
    expect(store.getState().error).toEqual({
      code: 'hub-not-found',
      message: 'no repo x/y',
      details: { repo: 'x/y' },
    });
    store.getState().showError(new TypeError('boom'));
    expect(store.getState().error).toMatchObject({ code: 'internal', message: 'boom' });
    store.getState().dismissError();
    expect(store.getState().error).toBeNull();
  });
});
