// Shared setup for the JavaScript SDK conformance suite: the gateway's address and keys
// (exported by conformance/run), fixtures, and `matrix`, which declares one test per
// upstream shape and turns the entries of known_gaps.mjs into strict expected failures.
import { test } from 'node:test';
import { GAPS } from './known_gaps.mjs';

export const BASE = process.env.PATCHBAY_BASE;
export const KEY = process.env.PATCHBAY_KEY;
export const LIMITED_KEY = process.env.PATCHBAY_LIMITED_KEY;
if (!BASE) throw new Error('PATCHBAY_BASE is not set: run the suite through conformance/run');

export const UPSTREAMS = ['openai', 'anthropic', 'gemini', 'ollama', 'bedrock', 'cohere'];
/** Upstream shapes with an embeddings API (Anthropic has none). */
export const EMBEDDERS = ['openai', 'gemini', 'ollama'];

/** A 1×1 red PNG, base64. */
export const PNG_B64 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
export const WEATHER_SCHEMA = {
  type: 'object',
  properties: { city: { type: 'string' } },
  required: ['city'],
};
/** What the mock's `tools` scenario answers for WEATHER_SCHEMA. */
export const WEATHER_ARGS = { city: 'example' };
// The parallel round trip, for the mock's `agent` scenario (`mock-agent`): each
// `CALL <tool> <json>` line of the prompt becomes one tool call of the same assistant
// turn, and tool results are answered with one `Result of <tool>: <text>` line each.
export const PARALLEL_ARGS = [{ city: 'Paris' }, { city: 'Rome' }];
export const PARALLEL_PROMPT = 'CALL get_weather {"city":"Paris"}\nCALL get_weather {"city":"Rome"}';
export const PARALLEL_RESULTS = ['Sunny', 'Rainy'];
export const PARALLEL_ANSWER = PARALLEL_RESULTS.map((r) => `Result of get_weather: ${r}`).join('\n');
export const CITY_SCHEMA = {
  type: 'object',
  properties: { city: { type: 'string' }, population: { type: 'integer' } },
  required: ['city', 'population'],
  additionalProperties: false,
};
export const CITY_JSON = '{"city": "Paris", "population": 2100000}';

const used = new Set();

/** One test named `name [upstream]` per upstream in `upstreams`. */
export function matrix(sdk, name, fn, upstreams = UPSTREAMS) {
  for (const up of upstreams) single(sdk, `${name} [${up}]`, () => fn(up));
}

/** One test; a known gap makes it a strict expected failure. */
export function single(sdk, name, fn) {
  const id = `${sdk} › ${name}`;
  const reason = GAPS[id];
  if (!reason) {
    test(id, fn);
    return;
  }
  used.add(id);
  test(`${id} (known gap)`, async () => {
    let passed = false;
    try {
      await fn();
      passed = true;
    } catch {
      // the gap is still open
    }
    if (passed) throw new Error(`known gap now passes, remove it from known_gaps.mjs: ${reason}`);
  });
}

/** Asserts every known_gaps.mjs entry of `sdk` names a declared test. */
export function checkGaps(sdk) {
  test(`${sdk} › known_gaps.mjs names only existing tests`, () => {
    const stale = Object.keys(GAPS).filter((id) => id.startsWith(`${sdk} › `) && !used.has(id));
    if (stale.length) throw new Error(`known_gaps.mjs names tests that do not exist: ${stale.join(', ')}`);
  });
}

/** Runs `fn`, expecting it to throw an instance of `cls`; returns the error. */
export async function rejects(fn, cls) {
  try {
    await fn();
  } catch (err) {
    if (!(err instanceof cls)) {
      throw new Error(`expected ${cls.name}, got ${err?.constructor?.name}: ${err?.message}`, { cause: err });
    }
    return err;
  }
  throw new Error(`expected ${cls.name}, nothing was thrown`);
}
