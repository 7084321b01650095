// The `ollama` JavaScript client (chat, generate, stream, tools, embeddings, list, show,
// version) against every upstream shape.
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import {
  BASE, KEY, PNG_B64, WEATHER_SCHEMA, WEATHER_ARGS, EMBEDDERS, matrix, single, checkGaps,
} from './common.mjs';

const SDK = 'ollama';
const PROMPT = 'Hello from the ollama JS client';
const TOOLS = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather in a city', parameters: WEATHER_SCHEMA } },
];
// The key as a Bearer header: the client sends OLLAMA_API_KEY only to ollama.com.
const client = (key = KEY) => new Ollama({ host: BASE, headers: { Authorization: `Bearer ${key}` } });
const user = (content) => ({ role: 'user', content });

/** Runs `fn`, expecting the client's ResponseError with `status`; returns it. */
async function responseError(fn, status) {
  try {
    await fn();
  } catch (err) {
    assert.equal(err.name, 'ResponseError', String(err));
    assert.equal(err.status_code, status, err.error);
    assert.ok(err.error);
    return err;
  }
  throw new Error(`expected a ResponseError with status ${status}, nothing was thrown`);
}

matrix(SDK, 'chat', async (up) => {
  const r = await client().chat({ model: `${up}/mock-echo`, messages: [user(PROMPT)] });
  assert.equal(r.message.role, 'assistant');
  assert.equal(r.message.content, PROMPT);
  assert.equal(r.done, true);
  assert.equal(r.done_reason, 'stop');
  assert.ok(r.prompt_eval_count > 0 && r.eval_count > 0);
});

matrix(SDK, 'chat with system, history and options', async (up) => {
  const r = await client().chat({
    model: `${up}/mock-echo`,
    messages: [
      { role: 'system', content: 'Answer briefly.' },
      user('First'),
      { role: 'assistant', content: 'One' },
      user(PROMPT),
    ],
    options: { temperature: 0.2, top_k: 20, num_predict: 64, seed: 7 },
    keep_alive: '5m',
  });
  assert.equal(r.message.content, PROMPT);
});

matrix(SDK, 'chat stream', async (up) => {
  const stream = await client().chat({ model: `${up}/mock-echo`, messages: [user(PROMPT)], stream: true });
  const parts = [];
  for await (const part of stream) parts.push(part);
  assert.equal(parts.map((p) => p.message.content).join(''), PROMPT);
  assert.equal(parts.filter((p) => p.done).length, 1);
  const last = parts.at(-1);
  assert.equal(last.done, true);
  assert.equal(last.done_reason, 'stop');
  assert.ok(last.eval_count > 0 && last.prompt_eval_count > 0);
  if (up !== 'ollama') {
    // Timed at the gateway (an Ollama upstream's stream is relayed with its own timings).
    assert.ok(last.total_duration > 0);
    assert.equal(last.prompt_eval_duration + last.eval_duration, last.total_duration);
  }
});

matrix(SDK, 'image', async (up) => {
  const r = await client().chat({
    model: `${up}/mock-echo`, messages: [{ role: 'user', content: PROMPT, images: [PNG_B64] }],
  });
  assert.equal(r.message.content, PROMPT);
});

matrix(SDK, 'tools round trip', async (up) => {
  const c = client();
  const messages = [user('What is the weather in Paris?')];
  const first = await c.chat({ model: `${up}/mock-tools`, messages, tools: TOOLS });
  const calls = first.message.tool_calls;
  assert.equal(calls.length, 1);
  assert.equal(calls[0].function.name, 'get_weather');
  assert.deepEqual(calls[0].function.arguments, WEATHER_ARGS);
  messages.push(first.message, { role: 'tool', tool_name: 'get_weather', content: 'Sunny' }, user('Thanks'));
  const final = await c.chat({ model: `${up}/mock-echo`, messages, tools: TOOLS });
  assert.equal(final.message.content, 'Thanks');
});

matrix(SDK, 'tools stream', async (up) => {
  const stream = await client().chat({
    model: `${up}/mock-tools`, messages: [user('Weather?')], tools: TOOLS, stream: true,
  });
  const calls = [];
  let last;
  for await (const part of stream) {
    calls.push(...(part.message.tool_calls ?? []));
    last = part;
  }
  assert.deepEqual(calls.map((c) => c.function.name), ['get_weather']);
  assert.deepEqual(calls[0].function.arguments, WEATHER_ARGS);
  assert.equal(last.done, true);
});

matrix(SDK, 'structured output', async (up) => {
  const r = await client().chat({
    model: `${up}/mock-echo`,
    messages: [user('{"city": "Paris"}')],
    format: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  });
  assert.equal(r.message.content, '{"city": "Paris"}');
});

matrix(SDK, 'generate', async (up) => {
  const r = await client().generate({ model: `${up}/mock-echo`, prompt: PROMPT, system: 'Answer briefly.' });
  assert.equal(r.response, PROMPT);
  assert.equal(r.done, true);
  assert.equal(r.done_reason, 'stop');
});

matrix(SDK, 'generate stream', async (up) => {
  const stream = await client().generate({ model: `${up}/mock-echo`, prompt: PROMPT, stream: true });
  const parts = [];
  for await (const part of stream) parts.push(part);
  assert.equal(parts.map((p) => p.response).join(''), PROMPT);
  assert.equal(parts.at(-1).done, true);
  assert.ok(parts.at(-1).eval_count > 0);
});

matrix(SDK, 'embeddings', async (up) => {
  const c = client();
  const one = await c.embed({ model: `${up}/mock-embed`, input: 'a' });
  assert.equal(one.embeddings.length, 1);
  assert.ok(one.embeddings[0].length > 0);
  const two = await c.embed({ model: `${up}/mock-embed`, input: ['a', 'b'] });
  assert.equal(two.embeddings.length, 2);
  assert.deepEqual(two.embeddings[0], one.embeddings[0]);
  const legacy = await c.embeddings({ model: `${up}/mock-embed`, prompt: 'a' });
  assert.deepEqual(legacy.embedding, one.embeddings[0]);
}, EMBEDDERS);

single(SDK, 'list, show, ps and version', async () => {
  const c = client();
  const { models } = await c.list();
  assert.ok(models.some((m) => m.name === 'echo-ollama'), JSON.stringify(models));
  const shown = await c.show({ model: 'echo-ollama' });
  assert.ok(shown.capabilities.includes('tools'));
  assert.equal(shown.model_info['general.basename'], 'echo-ollama');
  assert.deepEqual((await c.ps()).models, []);
  const { version } = await c.version();
  assert.match(version, /^\d+\.\d+\.\d+$/);
});

single(SDK, 'errors', async () => {
  await responseError(() => client('pbk_wrong_key').chat({ model: 'openai/mock-echo', messages: [user(PROMPT)] }), 401);
  await responseError(() => client().show({ model: 'no-such-model' }), 404);
  await responseError(() => client().chat({ model: 'ollama/mock-fail-503', messages: [user(PROMPT)] }), 503);
});

checkGaps(SDK);
