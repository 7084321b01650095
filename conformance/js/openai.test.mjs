// The `openai` JavaScript SDK (Chat Completions, embeddings, models) against every upstream shape.
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import {
  BASE, KEY, LIMITED_KEY, PNG_B64, WEATHER_SCHEMA, WEATHER_ARGS, CITY_SCHEMA, CITY_JSON,
  PARALLEL_ARGS, PARALLEL_PROMPT, PARALLEL_RESULTS, PARALLEL_ANSWER,
  EMBEDDERS, matrix, single, checkGaps, rejects,
} from './common.mjs';

const SDK = 'openai';
const PROMPT = 'Hello from the openai JS SDK';
const TOOLS = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather in a city', parameters: WEATHER_SCHEMA } },
];
const client = (key = KEY) => new OpenAI({ baseURL: `${BASE}/v1`, apiKey: key, maxRetries: 0, timeout: 20_000 });
const user = (content) => ({ role: 'user', content });

matrix(SDK, 'text', async (up) => {
  const { data: r, response } = await client()
    .chat.completions.create({ model: `${up}/mock-echo`, messages: [user(PROMPT)] })
    .withResponse();
  assert.equal(response.headers.get('x-patchbay-provider'), up);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(r.choices[0].message.content, PROMPT);
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.ok(r.usage.completion_tokens > 0 && r.usage.prompt_tokens > 0);
});

matrix(SDK, 'stream text', async (up) => {
  const stream = await client().chat.completions.create({
    model: `${up}/mock-echo`, messages: [user(PROMPT)], stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  const finishes = [];
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.choices.length) {
      text += chunk.choices[0].delta.content ?? '';
      if (chunk.choices[0].finish_reason) finishes.push(chunk.choices[0].finish_reason);
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, PROMPT);
  assert.deepEqual(finishes, ['stop']);
  assert.ok(usage?.completion_tokens > 0);
});

matrix(SDK, 'stream helper text', async (up) => {
  const s = client().chat.completions.stream({ model: `${up}/mock-echo`, messages: [user(PROMPT)] });
  const final = await s.finalChatCompletion();
  assert.equal(final.choices[0].message.content, PROMPT);
  assert.equal(final.choices[0].finish_reason, 'stop');
});

matrix(SDK, 'system and multi-turn', async (up) => {
  const r = await client().chat.completions.create({
    model: `${up}/mock-echo`,
    messages: [
      { role: 'system', content: 'You answer briefly.' },
      user('First question'),
      { role: 'assistant', content: 'First answer' },
      user('Second question'),
    ],
  });
  assert.equal(r.choices[0].message.content, 'Second question');
});

async function toolRoundTrip(up, stream) {
  const c = client();
  const question = 'What is the weather in Paris?';
  const messages = [user(question)];
  const ask = (model) =>
    stream
      ? c.chat.completions.stream({ model, messages, tools: TOOLS }).finalChatCompletion()
      : c.chat.completions.create({ model, messages, tools: TOOLS });
  const first = await ask(`${up}/mock-tools`);
  assert.equal(first.choices[0].finish_reason, 'tool_calls');
  const msg = first.choices[0].message;
  assert.equal(msg.tool_calls.length, 1);
  const call = msg.tool_calls[0];
  assert.equal(call.type, 'function');
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.function.arguments), WEATHER_ARGS);
  assert.ok(call.id);
  messages.push(msg); // the SDK's own message, sent back as is
  messages.push({ role: 'tool', tool_call_id: call.id, content: 'Sunny, 21 °C' });
  const final = await ask(`${up}/mock-echo`);
  assert.equal(final.choices[0].finish_reason, 'stop');
  assert.equal(final.choices[0].message.content, question);
}
matrix(SDK, 'tool round trip', (up) => toolRoundTrip(up, false));
matrix(SDK, 'stream tool round trip', (up) => toolRoundTrip(up, true));

for (const stream of [false, true]) {
  // Two CALL lines: the agent mock answers two calls in one assistant turn, then quotes
  // each result back.
  matrix(SDK, `parallel tool results ${stream ? 'stream' : 'whole'}`, async (up) => {
    const c = client();
    const messages = [user(PARALLEL_PROMPT)];
    const ask = () => {
      const params = { model: `${up}/mock-agent`, messages, tools: TOOLS };
      return stream ? c.chat.completions.stream(params).finalChatCompletion() : c.chat.completions.create(params);
    };
    const first = await ask();
    assert.equal(first.choices[0].finish_reason, 'tool_calls');
    const msg = first.choices[0].message;
    assert.deepEqual(
      msg.tool_calls.map((t) => [t.type, t.function.name, JSON.parse(t.function.arguments)]),
      PARALLEL_ARGS.map((args) => ['function', 'get_weather', args]),
    );
    const ids = msg.tool_calls.map((t) => t.id);
    assert.ok(ids.every(Boolean) && new Set(ids).size === 2, ids.join(','));
    messages.push(msg); // the SDK's own message, sent back as is
    ids.forEach((id, i) => messages.push({ role: 'tool', tool_call_id: id, content: PARALLEL_RESULTS[i] }));
    const final = await ask();
    assert.equal(final.choices[0].finish_reason, 'stop');
    assert.ok(!final.choices[0].message.tool_calls?.length);
    assert.equal(final.choices[0].message.content, PARALLEL_ANSWER);
  });
}

matrix(SDK, 'image input', async (up) => {
  const r = await client().chat.completions.create({
    model: `${up}/mock-echo`,
    messages: [
      user([
        { type: 'text', text: 'Describe this image' },
        { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG_B64}` } },
      ]),
    ],
  });
  assert.equal(r.choices[0].message.content, 'Describe this image');
});

matrix(SDK, 'structured output', async (up) => {
  // The mock echoes the prompt, so the prompt is the JSON the schema asks for; the
  // SDK's parse helper parses it.
  const r = await client().chat.completions.parse({
    model: `${up}/mock-echo`,
    messages: [user(CITY_JSON)],
    response_format: { type: 'json_schema', json_schema: { name: 'city', schema: CITY_SCHEMA, strict: true } },
  });
  assert.deepEqual(r.choices[0].message.parsed, { city: 'Paris', population: 2100000 });
});

matrix(SDK, 'embeddings base64', async (up) => {
  // The SDK asks for base64 by default and decodes the floats itself.
  const r = await client().embeddings.create({ model: `${up}/mock-embed`, input: ['first text', 'second text'] });
  assert.deepEqual(r.data.map((d) => d.index), [0, 1]);
  for (const d of r.data) {
    assert.equal(d.embedding.length, 8);
    assert.ok(Math.abs(d.embedding.reduce((s, x) => s + x * x, 0) - 1) < 1e-3);
  }
  assert.notDeepEqual(r.data[0].embedding, r.data[1].embedding);
}, EMBEDDERS);

matrix(SDK, 'embeddings float', async (up) => {
  const r = await client().embeddings.create({ model: `${up}/mock-embed`, input: 'one text', encoding_format: 'float' });
  assert.equal(r.data.length, 1);
  assert.equal(r.data[0].embedding.length, 8);
}, EMBEDDERS);

single(SDK, 'embeddings: anthropic has none', async () => {
  const err = await rejects(
    () => client().embeddings.create({ model: 'anthropic/mock-embed', input: 'text' }),
    OpenAI.NotFoundError,
  );
  assert.match(err.message, /embeddings/);
});

matrix(SDK, 'list models', async (up) => {
  const ids = [];
  for await (const m of client().models.list()) ids.push(m.id);
  assert.ok(ids.includes(`echo-${up}`), ids.join(','));
  const { data, response } = await client()
    .chat.completions.create({ model: `echo-${up}`, messages: [user(PROMPT)] })
    .withResponse();
  assert.equal(response.headers.get('x-patchbay-provider'), up);
  assert.equal(data.choices[0].message.content, PROMPT);
});

single(SDK, 'list models: limited key', async () => {
  const ids = [];
  for await (const m of client(LIMITED_KEY).models.list()) ids.push(m.id);
  assert.deepEqual(ids, ['only-this-model']);
});

matrix(SDK, 'error: bad key', async (up) => {
  const err = await rejects(
    () => client('pbk_not_a_key').chat.completions.create({ model: `${up}/mock-echo`, messages: [user('hi')] }),
    OpenAI.AuthenticationError,
  );
  assert.equal(err.status, 401);
  assert.equal(err.headers.get('x-should-retry'), 'false');
});

matrix(SDK, 'error: model not allowed', async (up) => {
  const err = await rejects(
    () => client(LIMITED_KEY).chat.completions.create({ model: `${up}/mock-echo`, messages: [user('hi')] }),
    OpenAI.PermissionDeniedError,
  );
  assert.equal(err.status, 403);
});

matrix(SDK, 'error: rate limit', async (up) => {
  const err = await rejects(
    () => client().chat.completions.create({ model: `${up}/mock-fail-429`, messages: [user('hi')] }),
    OpenAI.RateLimitError,
  );
  assert.equal(err.status, 429);
  assert.equal(err.headers.get('retry-after'), '1');
});

matrix(SDK, 'error: bad request', async (up) => {
  const err = await rejects(
    () => client().chat.completions.create({ model: `${up}/mock-echo`, messages: 'not a list' }),
    OpenAI.BadRequestError,
  );
  assert.equal(err.status, 400);
  assert.ok(err.error?.message);
});

matrix(SDK, 'error: upstream down', async (up) => {
  const err = await rejects(
    () => client().chat.completions.create({ model: `${up}-down/mock-echo`, messages: [user('hi')] }),
    OpenAI.InternalServerError,
  );
  assert.equal(err.status, 502);
});

// --- Responses API -----------------------------------------------------------------

const RESPONSES_TOOLS = [{ type: 'function', name: 'get_weather', description: 'Weather in a city', parameters: WEATHER_SCHEMA }];

matrix(SDK, 'responses text', async (up) => {
  const r = await client().responses.create({ model: `${up}/mock-echo`, input: PROMPT, instructions: 'Be brief.' });
  assert.equal(r.status, 'completed');
  assert.equal(r.output_text, PROMPT);
  assert.ok(r.usage.output_tokens > 0);
});

matrix(SDK, 'responses stream', async (up) => {
  const s = client().responses.stream({ model: `${up}/mock-echo`, input: PROMPT });
  let text = '';
  s.on('response.output_text.delta', (e) => {
    text += e.delta;
  });
  const final = await s.finalResponse();
  assert.equal(text, PROMPT);
  assert.equal(final.output_text, PROMPT);
  assert.equal(final.status, 'completed');
});

for (const stream of [false, true]) {
  matrix(SDK, `responses tool round trip ${stream ? 'stream' : 'whole'}`, async (up) => {
    const c = client();
    const question = 'What is the weather in Paris?';
    const input = [{ role: 'user', content: question }];
    const ask = (model) => {
      const params = { model, input, tools: RESPONSES_TOOLS };
      return stream ? c.responses.stream(params).finalResponse() : c.responses.create(params);
    };
    const first = await ask(`${up}/mock-tools`);
    const calls = first.output.filter((o) => o.type === 'function_call');
    assert.equal(calls.length, 1);
    assert.equal(calls[0].name, 'get_weather');
    assert.deepEqual(JSON.parse(calls[0].arguments), WEATHER_ARGS);
    input.push(...first.output); // the SDK's own output items, sent back as input
    input.push({ type: 'function_call_output', call_id: calls[0].call_id, output: 'Sunny, 21 °C' });
    const final = await ask(`${up}/mock-echo`);
    assert.equal(final.output_text, question);
  });
}

matrix(SDK, 'responses structured output', async (up) => {
  const r = await client().responses.parse({
    model: `${up}/mock-echo`,
    input: CITY_JSON,
    text: { format: { type: 'json_schema', name: 'city', schema: CITY_SCHEMA, strict: true } },
  });
  assert.deepEqual(r.output_parsed, { city: 'Paris', population: 2100000 });
});


// --- Responses state (the gateway keeps it for every upstream) ----------------------

matrix(SDK, 'responses chain by previous_response_id', async (up) => {
  const c = client();
  const model = `${up}/mock-echo`;
  const first = await c.responses.create({ model, input: 'one two three four', instructions: 'Be brief.' });
  const second = await c.responses.create({ model, input: 'five six seven eight', previous_response_id: first.id });
  const third = await c.responses
    .stream({ model, input: 'nine ten eleven twelve', previous_response_id: second.id })
    .finalResponse();
  assert.deepEqual(
    [first.output_text, second.output_text, third.output_text],
    ['one two three four', 'five six seven eight', 'nine ten eleven twelve'],
  );
  assert.equal(new Set([first.id, second.id, third.id]).size, 3);
  // The upstream is sent the whole conversation: what it counts grows turn by turn.
  assert.ok(first.usage.input_tokens < second.usage.input_tokens);
  assert.ok(second.usage.input_tokens < third.usage.input_tokens);
});

matrix(SDK, 'responses retrieve, input items and delete', async (up) => {
  const c = client();
  const r = await c.responses.create({ model: `${up}/mock-echo`, input: PROMPT });
  const got = await c.responses.retrieve(r.id);
  assert.equal(got.id, r.id);
  assert.equal(got.output_text, PROMPT);
  const items = [];
  for await (const item of c.responses.inputItems.list(r.id)) items.push(item);
  assert.deepEqual(items.map((i) => i.type), ['message']);
  assert.equal(items[0].content[0].text, PROMPT);
  await c.responses.delete(r.id);
  await rejects(() => c.responses.retrieve(r.id), OpenAI.NotFoundError);
  await rejects(() => client(LIMITED_KEY).responses.retrieve(r.id), OpenAI.NotFoundError);
});

checkGaps(SDK);
