// The `@anthropic-ai/sdk` JavaScript SDK (Messages, countTokens, models) against every upstream shape.
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { jsonSchemaOutputFormat } from '@anthropic-ai/sdk/helpers/json-schema';
import {
  BASE, KEY, LIMITED_KEY, PNG_B64, WEATHER_SCHEMA, WEATHER_ARGS, CITY_SCHEMA, CITY_JSON,
  PARALLEL_ARGS, PARALLEL_PROMPT, PARALLEL_RESULTS, PARALLEL_ANSWER,
  matrix, single, checkGaps, rejects,
} from './common.mjs';

const SDK = 'anthropic';
const PROMPT = 'Hello from the anthropic JS SDK';
const TOOLS = [{ name: 'get_weather', description: 'Weather in a city', input_schema: WEATHER_SCHEMA }];
const client = (key = KEY) => new Anthropic({ baseURL: BASE, apiKey: key, maxRetries: 0, timeout: 20_000 });
const user = (content) => ({ role: 'user', content });

matrix(SDK, 'text', async (up) => {
  const { data: m, response } = await client()
    .messages.create({ model: `${up}/mock-echo`, max_tokens: 256, messages: [user(PROMPT)] })
    .withResponse();
  assert.equal(response.headers.get('x-patchbay-provider'), up);
  assert.equal(m.type, 'message');
  assert.equal(m.role, 'assistant');
  assert.deepEqual(m.content.map((b) => b.type), ['text']);
  assert.equal(m.content[0].text, PROMPT);
  assert.equal(m.stop_reason, 'end_turn');
  assert.ok(m.usage.output_tokens > 0 && m.usage.input_tokens > 0);
});

matrix(SDK, 'stream text', async (up) => {
  const s = client().messages.stream({ model: `${up}/mock-echo`, max_tokens: 256, messages: [user(PROMPT)] });
  let text = '';
  s.on('text', (delta) => {
    text += delta;
  });
  const final = await s.finalMessage();
  assert.equal(text, PROMPT);
  assert.equal(final.content[0].text, PROMPT);
  assert.equal(final.stop_reason, 'end_turn');
  assert.ok(final.usage.output_tokens > 0);
});

matrix(SDK, 'stream raw events', async (up) => {
  const stream = await client().messages.create({
    model: `${up}/mock-echo`, max_tokens: 256, messages: [user(PROMPT)], stream: true,
  });
  const kinds = [];
  let text = '';
  for await (const e of stream) {
    kinds.push(e.type);
    if (e.type === 'content_block_delta' && e.delta.type === 'text_delta') text += e.delta.text;
  }
  assert.equal(kinds[0], 'message_start');
  assert.equal(kinds.at(-1), 'message_stop');
  assert.equal(text, PROMPT);
});

matrix(SDK, 'system and multi-turn', async (up) => {
  const m = await client().messages.create({
    model: `${up}/mock-echo`,
    max_tokens: 256,
    system: 'You answer briefly.',
    messages: [user('First question'), { role: 'assistant', content: 'First answer' }, user('Second question')],
  });
  assert.equal(m.content[0].text, 'Second question');
});

async function toolRoundTrip(up, stream) {
  const c = client();
  const question = 'What is the weather in Paris?';
  const messages = [user(question)];
  const ask = (model) => {
    const params = { model, max_tokens: 256, messages, tools: TOOLS };
    return stream ? c.messages.stream(params).finalMessage() : c.messages.create(params);
  };
  const first = await ask(`${up}/mock-tools`);
  assert.equal(first.stop_reason, 'tool_use');
  const uses = first.content.filter((b) => b.type === 'tool_use');
  assert.equal(uses.length, 1);
  assert.equal(uses[0].name, 'get_weather');
  assert.deepEqual(uses[0].input, WEATHER_ARGS);
  assert.ok(uses[0].id);
  // The SDK's own content blocks go back as the assistant turn.
  messages.push({ role: 'assistant', content: first.content });
  messages.push(user([{ type: 'tool_result', tool_use_id: uses[0].id, content: 'Sunny, 21 °C' }]));
  const final = await ask(`${up}/mock-echo`);
  assert.equal(final.stop_reason, 'end_turn');
  assert.equal(final.content[0].text, question);
}
matrix(SDK, 'tool round trip', (up) => toolRoundTrip(up, false));
matrix(SDK, 'stream tool round trip', (up) => toolRoundTrip(up, true));

for (const stream of [false, true]) {
  // Two CALL lines: the agent mock answers two tool_use blocks in one assistant turn,
  // then quotes each tool_result back.
  matrix(SDK, `parallel tool results ${stream ? 'stream' : 'whole'}`, async (up) => {
    const c = client();
    const messages = [user(PARALLEL_PROMPT)];
    const ask = () => {
      const params = { model: `${up}/mock-agent`, max_tokens: 256, messages, tools: TOOLS };
      return stream ? c.messages.stream(params).finalMessage() : c.messages.create(params);
    };
    const first = await ask();
    assert.equal(first.stop_reason, 'tool_use');
    const uses = first.content.filter((b) => b.type === 'tool_use');
    assert.deepEqual(uses.map((u) => [u.name, u.input]), PARALLEL_ARGS.map((args) => ['get_weather', args]));
    const ids = uses.map((u) => u.id);
    assert.ok(ids.every(Boolean) && new Set(ids).size === 2, ids.join(','));
    // The SDK's own content blocks go back as the assistant turn, then one user turn
    // with both results.
    messages.push({ role: 'assistant', content: first.content });
    messages.push(user(ids.map((id, i) => ({ type: 'tool_result', tool_use_id: id, content: PARALLEL_RESULTS[i] }))));
    const final = await ask();
    assert.equal(final.stop_reason, 'end_turn');
    assert.deepEqual(final.content.map((b) => b.type), ['text']);
    assert.equal(final.content[0].text, PARALLEL_ANSWER);
  });
}

matrix(SDK, 'image input', async (up) => {
  const m = await client().messages.create({
    model: `${up}/mock-echo`,
    max_tokens: 256,
    messages: [
      user([
        { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG_B64 } },
        { type: 'text', text: 'Describe this image' },
      ]),
    ],
  });
  assert.equal(m.content[0].text, 'Describe this image');
});

matrix(SDK, 'structured output', async (up) => {
  // The mock echoes the prompt, so the prompt is the JSON the schema asks for; the
  // SDK's parse helper parses it.
  const m = await client().messages.parse({
    model: `${up}/mock-echo`,
    max_tokens: 256,
    messages: [user(CITY_JSON)],
    output_config: { format: jsonSchemaOutputFormat(CITY_SCHEMA) },
  });
  assert.deepEqual(m.parsed_output, { city: 'Paris', population: 2100000 });
});

matrix(SDK, 'count tokens', async (up) => {
  const r = await client().messages.countTokens({
    model: `${up}/mock-echo`,
    system: 'You answer briefly.',
    messages: [user('How many tokens is this sentence?')],
    tools: TOOLS,
  });
  assert.ok(Number.isInteger(r.input_tokens) && r.input_tokens > 0);
});

matrix(SDK, 'list models', async (up) => {
  const ids = [];
  for await (const m of client().models.list()) {
    assert.equal(m.type, 'model');
    ids.push(m.id);
  }
  assert.ok(ids.includes(`echo-${up}`), ids.join(','));
  const m = await client().messages.create({ model: `echo-${up}`, max_tokens: 64, messages: [user(PROMPT)] });
  assert.equal(m.content[0].text, PROMPT);
});

matrix(SDK, 'error: bad key', async (up) => {
  const err = await rejects(
    () => client('pbk_not_a_key').messages.create({ model: `${up}/mock-echo`, max_tokens: 64, messages: [user('hi')] }),
    Anthropic.AuthenticationError,
  );
  assert.equal(err.status, 401);
  assert.equal(err.headers.get('x-should-retry'), 'false');
});

matrix(SDK, 'error: model not allowed', async (up) => {
  const err = await rejects(
    () => client(LIMITED_KEY).messages.create({ model: `${up}/mock-echo`, max_tokens: 64, messages: [user('hi')] }),
    Anthropic.PermissionDeniedError,
  );
  assert.equal(err.status, 403);
});

matrix(SDK, 'error: rate limit', async (up) => {
  const err = await rejects(
    () => client().messages.create({ model: `${up}/mock-fail-429`, max_tokens: 64, messages: [user('hi')] }),
    Anthropic.RateLimitError,
  );
  assert.equal(err.status, 429);
  assert.equal(err.headers.get('retry-after'), '1');
});

matrix(SDK, 'error: bad request', async (up) => {
  const err = await rejects(
    () => client().messages.create({ model: `${up}/mock-echo`, max_tokens: 64, messages: 'not a list' }),
    Anthropic.BadRequestError,
  );
  assert.equal(err.status, 400);
  assert.equal(err.error?.type, 'error');
});

matrix(SDK, 'error: upstream down', async (up) => {
  const err = await rejects(
    () => client().messages.create({ model: `${up}-down/mock-echo`, max_tokens: 64, messages: [user('hi')] }),
    Anthropic.InternalServerError,
  );
  assert.equal(err.status, 502);
});

checkGaps(SDK);
