/**
 * `lorafuse generate` in-process through `main([...])` on the tiny SD1.5 fixture (its scheduler
 * config is PNDMScheduler, which lorafuse runs as Euler). The PNG is read back with the test's
 * own decoder (png-helpers.ts, no shared code with src/core/image); the `parameters` text is
 * taken from the tEXt chunk by hand and read with `parseGenerationParams`.
 *
 * Independent facts checked:
 * - the default size is `sample_size * 2^(len(block_out_channels) - 1)` from the fixture's configs;
 * - same seed gives bit-identical pixels, another seed other pixels;
 * - a LoRA changes the image; a schedule that is 0 at every step gives exactly the base pixels
 *   (weight 0 takes an adapter out of the mix, adapters.ts);
 * - at each UNet run the LoRA-touched weight equals W0 + c_k * dW, where dW is Diffusers' own
 *   `W_fused - W_base` (tests/fixtures/deltas) and c_k the product of the hand-evaluated global and
 *   adapter schedules at step k; the text encoder runs at step 0's value. Tolerance 1e-5 absolute:
 *   float32 merge against torch float32 (cli-delta.test.ts sees < 5e-7 relative), while
 *   neighbouring steps differ by >= 0.03 * max|dW|.
 * - the Hub forms of SOURCE give the same pixels as the local file.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { NetworkSession } from '../../src/core/graph/runner/session.ts';
import { readSafetensors } from '../../src/core/io/safetensors.ts';
import { type GenerationParams, parseGenerationParams } from '../../src/core/pipeline/generation-params.ts';
import { type HubServer, startHubServer } from '../hub-server.ts';
import { type DecodedPng, decodePng, walkChunks } from './png-helpers.ts';

const FIX = 'tests/fixtures';
const MODEL = `${FIX}/models/tiny-sd15`;
const KOHYA = `${FIX}/loras/sd15-kohya/sd15-kohya.safetensors`;
const tmp = mkdtempSync(join(tmpdir(), 'lorafuse-generate-'));
const PROMPT = 'a photo of a cat';
const COMMON = ['--model', MODEL, '--prompt', PROMPT, '--steps', '3', '--seed', '42', '--threads', '1'];

interface CliRun {
  code: number;
  out: string;
  err: string;
}

async function cli(args: string[]): Promise<CliRun> {
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  const error = vi.spyOn(console, 'error').mockImplementation(() => {});
  try {
    const code = await main(['generate', ...args]);
    return { code, out: log.mock.calls.flat().join('\n'), err: error.mock.calls.flat().join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

interface Generated extends CliRun {
  png: DecodedPng;
  params: GenerationParams;
}

let count = 0;
/** Runs generate to a fresh file and reads it back; fails the test when the command fails. */
async function gen(args: string[]): Promise<Generated> {
  const out = join(tmp, `out-${count++}.png`);
  const r = await cli([...args, '-o', out]);
  expect(r.code, r.err).toBe(0);
  const bytes = new Uint8Array(readFileSync(out));
  const texts = walkChunks(bytes)
    .filter((c) => c.type === 'tEXt')
    .map((c) => c.data.toString('latin1'));
  const params = texts.filter((t) => t.startsWith('parameters\0')).map((t) => t.slice('parameters\0'.length));
  expect(params).toHaveLength(1);
  return { ...r, png: decodePng(bytes), params: parseGenerationParams(params[0]!) };
}

function samePixels(a: DecodedPng, b: DecodedPng): boolean {
  return a.width === b.width && a.height === b.height && Buffer.from(a.rgba).equals(Buffer.from(b.rgba));
}

function json(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

afterEach(() => vi.restoreAllMocks());

let base: Generated;
beforeAll(async () => {
  base = await gen([...COMMON, '--negative', 'blurry', '--guidance', '5']);
});

describe('lorafuse generate without LoRA', () => {
  it("writes a PNG at the model's default size carrying its parameters", () => {
    const unet = json(`${MODEL}/unet/config.json`);
    const vae = json(`${MODEL}/vae/config.json`);
    const side = (unet.sample_size as number) * 2 ** ((vae.block_out_channels as number[]).length - 1);
    expect([base.png.width, base.png.height]).toEqual([side, side]);
    expect(base.params).toEqual({
      prompt: PROMPT,
      negativePrompt: 'blurry',
      steps: 3,
      scheduler: 'euler',
      cfgScale: 5,
      seed: 42,
      width: side,
      height: side,
      model: 'tiny-sd15',
    });
    expect(base.out).toContain('seed 42');
  });

  it('says that the PNDM scheduler runs as Euler; an explicit --scheduler runs without a note', async () => {
    expect(base.err).toMatch(
      /note: the model's scheduler \(PNDMScheduler\) is not implemented; running Euler/,
    );
    const ddim = await gen([...COMMON, '--scheduler', 'ddim', '--size', '24x16']);
    expect(ddim.err).toBe('');
    expect([ddim.png.width, ddim.png.height]).toEqual([24, 16]);
    expect(ddim.params).toMatchObject({ scheduler: 'ddim', width: 24, height: 16, steps: 3, seed: 42 });
  });

  it('the same seed gives the same pixels, another seed other pixels', async () => {
    const again = await gen([...COMMON, '--negative', 'blurry', '--guidance', '5']);
    expect(samePixels(again.png, base.png)).toBe(true);
    const other = await gen([...COMMON, '--negative', 'blurry', '--guidance', '5', '--seed', '43']);
    expect(samePixels(other.png, base.png)).toBe(false);
  });

  it('--emphasis and --long-prompts: a short prompt without brackets gives the same pixels; (word:1.5) changes them', async () => {
    const both = await gen([
      ...COMMON,
      '--negative',
      'blurry',
      '--guidance',
      '5',
      '--emphasis',
      '--long-prompts',
    ]);
    expect(samePixels(both.png, base.png)).toBe(true);
    const args = [...COMMON.slice(0, 3), 'a photo of a (cat:1.5)', ...COMMON.slice(4), '--guidance', '5'];
    const emphasized = await gen([...args, '--negative', 'blurry', '--emphasis']);
    expect(samePixels(emphasized.png, base.png)).toBe(false);
  });

  it('refuses bad options by name', async () => {
    const cases: [string[], RegExp][] = [
      [['--size', '17x16'], /invalid-argument.*width must be a positive multiple of 2/],
      [['--size', '16'], /invalid-argument.*--size '16'/],
      [['--scheduler', 'pndm'], /invalid-argument.*--scheduler 'pndm'.*euler-a/],
      [['--steps', '0'], /invalid-argument.*--steps '0'/],
      [['--schedule', 'style=1'], /invalid-argument.*no adapter is named 'style'.*none/],
      [['--lora', `./${FIX}/nothing-here.safetensors`], /invalid-argument.*no such local file.*REPO\/FILE/],
      [['--lora', 'model.ckpt'], /pickle-refused/],
    ];
    for (const [extra, message] of cases) {
      const r = await cli([...COMMON, ...extra, '-o', join(tmp, 'never.png')]);
      expect(r.code, extra.join(' ')).toBe(1);
      expect(r.err).toMatch(message);
    }
    const usage = await cli(['--model', MODEL, '-o', join(tmp, 'never.png')]);
    expect(usage.code).toBe(1);
    expect(usage.err).toMatch(/--prompt/);
  });
});

describe('lorafuse generate with LoRA', () => {
  let lora: Generated;
  beforeAll(async () => {
    lora = await gen([...COMMON, '--negative', 'blurry', '--guidance', '5', '--lora', KOHYA]);
  });

  it('changes the image and records the adapter under its file stem', () => {
    expect(samePixels(lora.png, base.png)).toBe(false);
    expect(lora.params.adapterSchedules).toEqual({ 'sd15-kohya': 1 });
    expect(lora.out).toContain('LoRA sd15-kohya');
  });

  it('a schedule that is 0 at every step gives exactly the base image', async () => {
    for (const extra of [
      ['--schedule', 'sd15-kohya=0@0,0@1'],
      ['--schedule', 'scale=0'],
    ]) {
      const zero = await gen([
        ...COMMON,
        '--negative',
        'blurry',
        '--guidance',
        '5',
        '--lora',
        KOHYA,
        ...extra,
      ]);
      expect(samePixels(zero.png, base.png), extra.join(' ')).toBe(true);
    }
  });

  it('sets the product of the global and adapter schedules before each UNet step', async () => {
    const deltas = readSafetensors(
      new Uint8Array(readFileSync(`${FIX}/deltas/sd15-kohya.safetensors`)),
      'deltas',
    );
    const unetW0 = readSafetensors(
      new Uint8Array(readFileSync(`${MODEL}/unet/diffusion_pytorch_model.safetensors`)),
      'unet',
    );
    const teW0 = readSafetensors(
      new Uint8Array(readFileSync(`${MODEL}/text_encoder/model.safetensors`)),
      'te',
    );
    const unetKey = 'down_blocks.0.attentions.0.proj_in.weight';
    const teKey = 'text_model.encoder.layers.0.mlp.fc1.weight';
    const seen: { net: string; weight: Float32Array }[] = [];
    const run = NetworkSession.prototype.run;
    vi.spyOn(NetworkSession.prototype, 'run').mockImplementation(async function (
      this: NetworkSession,
      inputs,
    ) {
      const key = this.def.weights.some((w) => w.name === unetKey) ? unetKey : teKey;
      const t = this.getWeight(key);
      if (t) seen.push({ net: this.def.name, weight: Float32Array.from(t.data as Float32Array) });
      return run.call(this, inputs);
    });
    // 5 steps; adapter 0.5@0,1@1 times W = 2: 1, 1.25, 1.5, 1.75, 2; scale 1@0,0.5@1: 1, .875, .75, .625, .5.
    const r = await gen([
      ...COMMON,
      '--steps',
      '5',
      '--lora',
      `${KOHYA}:2`,
      '--schedule',
      'sd15-kohya=0.5@0,1@1',
      '--schedule',
      'scale=1@0,0.5@1',
    ]);
    const expected = [1, 1.09375, 1.125, 1.09375, 1];
    const unetRuns = seen.filter((s) => s.net.startsWith('UNet'));
    const teRuns = seen.filter((s) => s.net.startsWith('CLIP'));
    expect(unetRuns).toHaveLength(5);
    expect(teRuns.length).toBeGreaterThan(0);
    const check = (got: Float32Array, w0: Float32Array, d: Float32Array, c: number) => {
      let err = 0;
      for (let i = 0; i < w0.length; i++) err = Math.max(err, Math.abs(got[i]! - (w0[i]! + c * d[i]!)));
      return err;
    };
    const dU = deltas.float32(`unet.${unetKey}`);
    const w0U = unetW0.float32(unetKey);
    unetRuns.forEach((s, k) => {
      expect(check(s.weight, w0U, dU, expected[k]!), `step ${k}`).toBeLessThanOrEqual(1e-5);
    });
    const dT = deltas.float32(`text_encoder.${teKey}`);
    const w0T = teW0.float32(teKey);
    for (const s of teRuns) expect(check(s.weight, w0T, dT, expected[0]!)).toBeLessThanOrEqual(1e-5);
    expect(r.params.adapterSchedules).toEqual({
      'sd15-kohya': [
        [0, 1],
        [1, 2],
      ],
    });
    expect(r.params.scaleSchedule).toEqual([
      [0, 1],
      [1, 0.5],
    ]);
  });

  it('refuses two LoRAs with the same stem, and an unknown schedule name, listing the adapters', async () => {
    const copy = join(tmp, 'copy');
    mkdirSync(copy, { recursive: true });
    writeFileSync(join(copy, 'sd15-kohya.safetensors'), readFileSync(KOHYA));
    const twice = await cli([
      ...COMMON,
      '--lora',
      KOHYA,
      '--lora',
      join(copy, 'sd15-kohya.safetensors'),
      '-o',
      join(tmp, 'x.png'),
    ]);
    expect(twice.code).toBe(1);
    expect(twice.err).toMatch(/invalid-argument.*both be named 'sd15-kohya'/);
    const unknown = await cli([
      ...COMMON,
      '--lora',
      KOHYA,
      '--schedule',
      'other=1',
      '-o',
      join(tmp, 'x.png'),
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/no adapter is named 'other'; the adapters are sd15-kohya/);
  });

  describe('SOURCE on the Hub', () => {
    let hub: HubServer;
    const env = { ...process.env };
    beforeAll(async () => {
      const two = join(tmp, 'two-loras');
      mkdirSync(two, { recursive: true });
      writeFileSync(join(two, 'first.safetensors'), readFileSync(KOHYA));
      writeFileSync(join(two, 'second.safetensors'), readFileSync(KOHYA));
      hub = await startHubServer({ repos: { 'fixtures/two-loras': { dir: two } } });
      process.env.HF_ENDPOINT = hub.url;
      process.env.LORAFUSE_CACHE_DIR = join(tmp, 'hub-cache');
      delete process.env.HF_TOKEN;
    });
    afterAll(async () => {
      process.env = env;
      await hub.close();
    });

    const args = [...COMMON, '--negative', 'blurry', '--guidance', '5'];

    it("REPO/FILE.safetensors and REPO with one file give the local file's image", async () => {
      for (const source of ['fixtures/sd15-kohya/sd15-kohya.safetensors', 'fixtures/sd15-kohya']) {
        const r = await gen([...args, '--lora', source]);
        expect(samePixels(r.png, lora.png), source).toBe(true);
        expect(r.params.adapterSchedules).toEqual({ 'sd15-kohya': 1 });
      }
    });

    it('a Hub model with a Hub LoRA', async () => {
      const r = await gen([
        ...args.slice(2),
        '--model',
        'fixtures/tiny-sd15',
        '--lora',
        'fixtures/sd15-kohya',
      ]);
      expect(samePixels(r.png, lora.png)).toBe(true);
      expect(r.params.model).toBe('fixtures/tiny-sd15');
    });

    it('a REPO with two files is refused, listing both; a missing FILE lists what is there', async () => {
      const two = await cli([...args, '--lora', 'fixtures/two-loras', '-o', join(tmp, 'x.png')]);
      expect(two.code).toBe(1);
      expect(two.err).toMatch(
        /invalid-argument.*2 \.safetensors files \(first\.safetensors, second\.safetensors\)/,
      );
      const missing = await cli([
        ...args,
        '--lora',
        'fixtures/two-loras/third.safetensors',
        '-o',
        join(tmp, 'x.png'),
      ]);
      expect(missing.code).toBe(1);
      expect(missing.err).toMatch(
        /hub-not-found.*third\.safetensors.*first\.safetensors, second\.safetensors/,
      );
      // A relative path that does not exist reads as REPO/FILE, and the error says so.
      const typo = await cli([
        ...args,
        '--lora',
        `${FIX}/nothing-here.safetensors`,
        '-o',
        join(tmp, 'x.png'),
      ]);
      expect(typo.code).toBe(1);
      expect(typo.err).toMatch(
        /no such local path, so it was read as the file 'nothing-here\.safetensors' of the Hub repo tests\/fixtures/,
      );
    });
  });
});
