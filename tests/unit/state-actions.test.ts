import { describe, expect, it } from 'vitest';
import type { RepoFile } from '../../src/api.ts';
import { LorafuseError } from '../../src/errors.ts';
import { createActions, hubUrlFromSearch } from '../../src/state/actions.ts';
import { createAppStore } from '../../src/state/store.ts';
import { fakeEngine, memoryStorage, SWIFTSHADER_STATUS } from './state-test-helpers.ts';

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const file = (path: string, size: number): RepoFile => ({ path, size, type: 'file' });

describe('hubUrlFromSearch', () => {
  it('reads and normalizes ?hub=', () => {
    expect(hubUrlFromSearch('?hub=http%3A%2F%2F127.0.0.1%3A4000%2F')).toBe('http://127.0.0.1:4000');
    expect(hubUrlFromSearch('?x=1&hub=https://hf-mirror.com')).toBe('https://hf-mirror.com');
    expect(hubUrlFromSearch('')).toBeNull();
  });

  it('refuses a parameter that is not an http(s) URL, saying where it came from', () => {
    expect(() => hubUrlFromSearch('?hub=ftp://x')).toThrow(/\?hub= parameter.*http:\/\/ or https:\/\//);
    expect(() => hubUrlFromSearch('?hub=nonsense')).toThrow(LorafuseError);
  });
});

describe('start', () => {
  it('applies ?hub= for this visit and stores the engine status', async () => {
    const store = createAppStore(memoryStorage());
    const engine = fakeEngine();
    await createActions(store, engine).start('?hub=http://127.0.0.1:4000/');
    expect(store.getState().sessionHubUrl).toBe('http://127.0.0.1:4000');
    expect(store.getState().hubUrl).toBe('https://huggingface.co');
    expect(store.getState().engineStatus).toEqual(SWIFTSHADER_STATUS);
    expect(store.getState().error).toBeNull();
  });

  it('shows a bad ?hub= and still reads the status', async () => {
    const store = createAppStore(memoryStorage());
    await createActions(store, fakeEngine()).start('?hub=file:///etc');
    expect(store.getState().error?.code).toBe('invalid-argument');
    expect(store.getState().sessionHubUrl).toBeNull();
    expect(store.getState().engineStatus).toEqual(SWIFTSHADER_STATUS);
  });

  it('shows a failing status probe', async () => {
    const store = createAppStore(memoryStorage());
    const engine = fakeEngine({ getStatus: () => Promise.reject(new LorafuseError('device-lost', 'gone')) });
    await createActions(store, engine).start('');
    expect(store.getState().error).toMatchObject({ code: 'device-lost', message: 'gone' });
    expect(store.getState().engineStatus).toBeNull();
  });
});

describe('listModelFiles', () => {
  it('sends the Hub options in effect, then lists the trimmed repo at its revision, sorted by path', async () => {
    const store = createAppStore(memoryStorage());
    const engine = fakeEngine({
      listRepoFiles: async () => [file('unet/config.json', 900), file('model_index.json', 400)],
    });
    const actions = createActions(store, engine);
    await actions.start('?hub=http://127.0.0.1:4000');
    store.getState().setToken('hf_abc');
    store.getState().setModelRepo('  fixtures/tiny-sd15 ');
    store.getState().setModelRevision(' main ');
    await actions.listModelFiles();

    expect(engine.calls.slice(1)).toEqual([
      { method: 'setHubOptions', options: { hubUrl: 'http://127.0.0.1:4000', token: 'hf_abc' } },
      { method: 'listRepoFiles', repo: 'fixtures/tiny-sd15', options: { revision: 'main' } },
    ]);
    const s = store.getState();
    expect(s.listingStatus).toBe('done');
    expect(s.listedRepo).toBe('fixtures/tiny-sd15');
    expect(s.listedRevision).toBe('main');
    expect(s.files.map((f) => f.path)).toEqual(['model_index.json', 'unet/config.json']);
  });

  it('sends no token when there is none, and no revision when it is empty', async () => {
    const store = createAppStore(memoryStorage());
    const engine = fakeEngine();
    store.getState().setModelRepo('a/b');
    await createActions(store, engine).listModelFiles();
    expect(engine.calls).toEqual([
      { method: 'setHubOptions', options: { hubUrl: 'https://huggingface.co' } },
      { method: 'listRepoFiles', repo: 'a/b', options: {} },
    ]);
  });

  it('an empty repo id is an error and never reaches the engine', async () => {
    const store = createAppStore(memoryStorage());
    const engine = fakeEngine();
    store.getState().setModelRepo('   ');
    await createActions(store, engine).listModelFiles();
    expect(store.getState().error?.code).toBe('hub-invalid-repo');
    expect(engine.calls).toEqual([]);
  });

  it('shows the engine error with its code and clears the old listing', async () => {
    const store = createAppStore(memoryStorage());
    let fail = false;
    const engine = fakeEngine({
      listRepoFiles: async (repo) => {
        if (fail) throw new LorafuseError('hub-not-found', `Repository ${repo} was not found`, { repo });
        return [file('a', 1)];
      },
    });
    const actions = createActions(store, engine);
    store.getState().setModelRepo('a/b');
    await actions.listModelFiles();
    expect(store.getState().files).toHaveLength(1);

    fail = true;
    store.getState().setModelRepo('no/such-repo');
    await actions.listModelFiles();
    const s = store.getState();
    expect(s.listingStatus).toBe('error');
    expect(s.files).toEqual([]);
    expect(s.error).toEqual({
      code: 'hub-not-found',
      message: 'Repository no/such-repo was not found',
      details: { repo: 'no/such-repo' },
    });
  });

  it('a new listing clears the previous error', async () => {
    const store = createAppStore(memoryStorage());
    store.getState().showError(new LorafuseError('hub-network', 'offline'));
    store.getState().setModelRepo('a/b');
    await createActions(store, fakeEngine()).listModelFiles();
    expect(store.getState().error).toBeNull();
  });

  it('an older answer arriving late never replaces a newer one (success or failure)', async () => {
    const store = createAppStore(memoryStorage());
    const pending = new Map<string, ReturnType<typeof deferred<RepoFile[]>>>();
    const engine = fakeEngine({
      listRepoFiles: (repo) => {
        const d = deferred<RepoFile[]>();
        pending.set(repo, d);
        return d.promise;
      },
    });
    const actions = createActions(store, engine);
    store.getState().setModelRepo('old/repo');
    const first = actions.listModelFiles();
    await Promise.resolve();
    store.getState().setModelRepo('new/repo');
    const second = actions.listModelFiles();
    await new Promise((r) => setTimeout(r, 0));

    pending.get('new/repo')?.resolve([file('new.json', 2)]);
    await second;
    pending.get('old/repo')?.reject(new LorafuseError('hub-network', 'late failure'));
    await first;

    const s = store.getState();
    expect(s.listedRepo).toBe('new/repo');
    expect(s.files.map((f) => f.path)).toEqual(['new.json']);
    expect(s.error).toBeNull();
    expect(s.listingStatus).toBe('done');
  });
});
