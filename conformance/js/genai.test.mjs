// The `@google/genai` JavaScript SDK (generate, stream, embed, count tokens, models) against every upstream shape.
import assert from 'node:assert/strict';
import { GoogleGenAI, ApiError, FinishReason, createPartFromFunctionResponse } from '@google/genai';
import {
  BASE, KEY, LIMITED_KEY, PNG_B64, WEATHER_SCHEMA, WEATHER_ARGS, CITY_SCHEMA, CITY_JSON,
  PARALLEL_ARGS, PARALLEL_PROMPT, PARALLEL_RESULTS, PARALLEL_ANSWER,
  EMBEDDERS, matrix, single, checkGaps, rejects,
} from './common.mjs';

const SDK = 'genai';
const PROMPT = 'Hello from the google-genai JS SDK';
const TOOL = {
  functionDeclarations: [
    { name: 'get_weather', description: 'Weather in a city', parametersJsonSchema: WEATHER_SCHEMA },
  ],
};
// No retries: @google/genai retries only when httpOptions.retryOptions are given.
const client = (key = KEY) => new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: BASE, timeout: 20_000 } });
const userText = (text) => ({ role: 'user', parts: [{ text }] });

matrix(SDK, 'text', async (up) => {
  const r = await client().models.generateContent({ model: `${up}/mock-echo`, contents: PROMPT });
  assert.equal(r.sdkHttpResponse.headers['x-patchbay-provider'], up);
  assert.equal(r.text, PROMPT);
  assert.equal(r.candidates[0].finishReason, FinishReason.STOP);
  assert.equal(r.candidates[0].content.role, 'model');
  assert.ok(r.usageMetadata.candidatesTokenCount > 0 && r.usageMetadata.promptTokenCount > 0);
});

matrix(SDK, 'stream text', async (up) => {
  const chunks = [];
  for await (const c of await client().models.generateContentStream({ model: `${up}/mock-echo`, contents: PROMPT })) {
    chunks.push(c);
  }
  assert.equal(chunks.map((c) => c.text ?? '').join(''), PROMPT);
  assert.equal(chunks.at(-1).candidates[0].finishReason, FinishReason.STOP);
  assert.ok(chunks.at(-1).usageMetadata.candidatesTokenCount > 0);
});

matrix(SDK, 'system and multi-turn', async (up) => {
  const r = await client().models.generateContent({
    model: `${up}/mock-echo`,
    contents: [userText('First question'), { role: 'model', parts: [{ text: 'First answer' }] }, userText('Second question')],
    config: { systemInstruction: 'You answer briefly.' },
  });
  assert.equal(r.text, 'Second question');
});

matrix(SDK, 'chat session', async (up) => {
  const chat = client().chats.create({ model: `${up}/mock-echo`, config: { systemInstruction: 'Be brief.' } });
  assert.equal((await chat.sendMessage({ message: 'First question' })).text, 'First question');
  assert.equal((await chat.sendMessage({ message: 'Second question' })).text, 'Second question');
  assert.equal(chat.getHistory().length, 4);
});

/**
 * One model turn with the weather tool offered, whole or streamed: the model content
 * (the SDK's own, or its streamed parts), the function calls, the text, the finish reason.
 */
async function generate(model, contents, stream) {
  const c = client();
  const config = { tools: [TOOL] };
  if (!stream) {
    const r = await c.models.generateContent({ model, contents, config });
    const calls = r.functionCalls ?? [];
    const text = calls.length ? null : r.text;
    return { content: r.candidates[0].content, calls, text, finish: r.candidates[0].finishReason };
  }
  const parts = [];
  let finish;
  for await (const ch of await c.models.generateContentStream({ model, contents, config })) {
    parts.push(...(ch.candidates?.[0]?.content?.parts ?? []));
    finish = ch.candidates?.[0]?.finishReason ?? finish;
  }
  return {
    content: { role: 'model', parts },
    calls: parts.filter((p) => p.functionCall).map((p) => p.functionCall),
    text: parts.filter((p) => p.text).map((p) => p.text).join(''),
    finish,
  };
}

async function toolRoundTrip(up, stream) {
  const question = 'What is the weather in Paris?';
  const contents = [userText(question)];
  const first = await generate(`${up}/mock-tools`, contents, stream);
  assert.equal(first.calls.length, 1);
  assert.equal(first.calls[0].name, 'get_weather');
  assert.deepEqual(first.calls[0].args, WEATHER_ARGS);
  // The SDK's own content goes back as the model turn, then its function response.
  contents.push(first.content);
  contents.push({
    role: 'user',
    parts: [createPartFromFunctionResponse(first.calls[0].id ?? '', 'get_weather', { result: 'Sunny, 21 °C' })],
  });
  const final = await generate(`${up}/mock-echo`, contents, stream);
  assert.deepEqual(final.calls, []);
  assert.equal(final.text, question);
}
matrix(SDK, 'tool round trip', (up) => toolRoundTrip(up, false));
matrix(SDK, 'stream tool round trip', (up) => toolRoundTrip(up, true));

for (const stream of [false, true]) {
  // Two CALL lines: the agent mock answers two functionCall parts in one model turn,
  // then quotes each function response back.
  matrix(SDK, `parallel tool results ${stream ? 'stream' : 'whole'}`, async (up) => {
    const contents = [userText(PARALLEL_PROMPT)];
    const first = await generate(`${up}/mock-agent`, contents, stream);
    // Gemini has no tool-use finish reason: a turn of calls finishes with STOP.
    assert.equal(first.finish, FinishReason.STOP);
    assert.deepEqual(first.calls.map((fc) => [fc.name, fc.args]), PARALLEL_ARGS.map((args) => ['get_weather', args]));
    const ids = first.calls.map((fc) => fc.id);
    assert.ok(ids.every(Boolean) && new Set(ids).size === 2, ids.join(','));
    // The SDK's own content goes back as the model turn, then one user turn with a
    // function response per call, by id and name ("output" is the key the SDK documents).
    contents.push(first.content);
    contents.push({
      role: 'user',
      parts: first.calls.map((fc, i) => createPartFromFunctionResponse(fc.id, fc.name, { output: PARALLEL_RESULTS[i] })),
    });
    const final = await generate(`${up}/mock-agent`, contents, stream);
    assert.deepEqual(final.calls, []);
    assert.equal(final.text, PARALLEL_ANSWER);
    assert.equal(final.finish, FinishReason.STOP);
  });
}

matrix(SDK, 'image input', async (up) => {
  const r = await client().models.generateContent({
    model: `${up}/mock-echo`,
    contents: [{ role: 'user', parts: [{ inlineData: { mimeType: 'image/png', data: PNG_B64 } }, { text: 'Describe this image' }] }],
  });
  assert.equal(r.text, 'Describe this image');
});

matrix(SDK, 'structured output', async (up) => {
  // The mock echoes the prompt, so the prompt is the JSON the schema asks for.
  const r = await client().models.generateContent({
    model: `${up}/mock-echo`,
    contents: CITY_JSON,
    config: { responseMimeType: 'application/json', responseJsonSchema: CITY_SCHEMA },
  });
  assert.deepEqual(JSON.parse(r.text), { city: 'Paris', population: 2100000 });
});

matrix(SDK, 'embed content', async (up) => {
  const r = await client().models.embedContent({ model: `${up}/mock-embed`, contents: ['first text', 'second text'] });
  assert.equal(r.embeddings.length, 2);
  for (const e of r.embeddings) {
    assert.equal(e.values.length, 8);
    assert.ok(Math.abs(e.values.reduce((s, x) => s + x * x, 0) - 1) < 1e-3);
  }
  assert.notDeepEqual(r.embeddings[0].values, r.embeddings[1].values);
}, EMBEDDERS);

single(SDK, 'embed content: anthropic has none', async () => {
  const err = await rejects(() => client().models.embedContent({ model: 'anthropic/mock-embed', contents: 'text' }), ApiError);
  assert.equal(err.status, 404);
});

matrix(SDK, 'count tokens', async (up) => {
  const r = await client().models.countTokens({ model: `${up}/mock-echo`, contents: 'How many tokens is this sentence?' });
  assert.ok(Number.isInteger(r.totalTokens) && r.totalTokens > 0);
});

matrix(SDK, 'list models', async (up) => {
  const names = [];
  for await (const m of await client().models.list()) names.push(m.name);
  assert.ok(names.includes(`models/echo-${up}`), names.join(','));
  const r = await client().models.generateContent({ model: `echo-${up}`, contents: PROMPT });
  assert.equal(r.text, PROMPT);
});

// @google/genai's ApiError carries the status and the error body as its message.
const body = (err) => JSON.parse(err.message).error;

matrix(SDK, 'error: bad key', async (up) => {
  const err = await rejects(
    () => client('pbk_not_a_key').models.generateContent({ model: `${up}/mock-echo`, contents: 'hi' }),
    ApiError,
  );
  assert.equal(err.status, 401);
  assert.equal(body(err).status, 'UNAUTHENTICATED');
});

matrix(SDK, 'error: model not allowed', async (up) => {
  const err = await rejects(
    () => client(LIMITED_KEY).models.generateContent({ model: `${up}/mock-echo`, contents: 'hi' }),
    ApiError,
  );
  assert.equal(err.status, 403);
  assert.equal(body(err).status, 'PERMISSION_DENIED');
});

matrix(SDK, 'error: rate limit', async (up) => {
  const err = await rejects(
    () => client().models.generateContent({ model: `${up}/mock-fail-429`, contents: 'hi' }),
    ApiError,
  );
  assert.equal(err.status, 429);
  assert.equal(body(err).status, 'RESOURCE_EXHAUSTED');
  // Gemini's form of the delay (the SDK exposes no headers): google.rpc.RetryInfo.
  assert.ok(
    body(err).details.some((d) => d['@type'] === 'type.googleapis.com/google.rpc.RetryInfo' && d.retryDelay === '1s'),
  );
});

matrix(SDK, 'error: bad request', async (up) => {
  // A body @google/genai sends but no Gemini server accepts: a part with no data.
  const err = await rejects(
    () => client().models.generateContent({ model: `${up}/mock-echo`, contents: [{ role: 'user', parts: [{}] }] }),
    ApiError,
  );
  assert.equal(err.status, 400);
  assert.equal(body(err).status, 'INVALID_ARGUMENT');
});

matrix(SDK, 'error: upstream down', async (up) => {
  const err = await rejects(
    () => client().models.generateContent({ model: `${up}-down/mock-echo`, contents: 'hi' }),
    ApiError,
  );
  assert.equal(err.status, 502);
});

checkGaps(SDK);
