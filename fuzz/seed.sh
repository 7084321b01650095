#!/usr/bin/env bash
# Seeds fuzz/seeds/<target>/ (not committed) from the repo's own inputs: the translate
# fixtures, prefixed with the selector byte(s) the decoder targets read (shape index in
# ApiShape::ALL order; chunk size 7); one request per route written below; the
# config fixtures. A campaign starts from these plus the committed corpus/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
fixtures=../crates/gateway-translate/tests/fixtures
shapes=(openai_chat openai_responses anthropic gemini ollama bedrock cohere)
rm -rf seeds
mkdir -p seeds/request_decoders seeds/response_decoders seeds/stream_decoders \
    seeds/http_ingress seeds/config_toml
# The selector byte is written by printf straight into the file: a command
# substitution would drop the NUL of shape 0.
for i in "${!shapes[@]}"; do
  shape=${shapes[$i]}
  sel="\\x$(printf %02x "$i")"
  for f in "$fixtures/$shape"/*/request.json; do
    [ -e "$f" ] || continue
    { printf "$sel"; cat "$f"; } > "seeds/request_decoders/$shape-$(basename "$(dirname "$f")")"
  done
  for f in "$fixtures/$shape"/*/response.json; do
    [ -e "$f" ] || continue
    { printf "$sel"; cat "$f"; } > "seeds/response_decoders/$shape-$(basename "$(dirname "$f")")"
  done
  for f in "$fixtures/$shape"/*/stream.sse "$fixtures/$shape"/*/stream.ndjson \
      "$fixtures/$shape"/*/stream.eventstream; do
    [ -e "$f" ] || continue
    { printf "$sel\\x07"; cat "$f"; } > "seeds/stream_decoders/$shape-$(basename "$(dirname "$f")")"
  done
done
# Requests as the SDKs and tools send them, one per route (the target reads an
# HTTP/1.1 head and body; the key is gateway_server::fuzzing::INGRESS_KEY).
key=pbk_fuzz_ingress_key
oa='{"model":"mock-echo","messages":[{"role":"user","content":"hi"}]}'
oas='{"model":"mock-text-5","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"s"},{"role":"user","content":"hi"}]}'
rsp='{"model":"mock-echo","input":"hi","stream":true}'
an='{"model":"mock-tools","max_tokens":64,"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"f","input_schema":{"type":"object","properties":{"a":{"type":"string"}}}}]}'
gm='{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}'
emb='{"model":"mock-embed","input":["a","b"]}'
req() { # name, head lines (\r\n-separated), body
  printf '%s\r\n\r\n%s' "$2" "$3" > "seeds/http_ingress/$1"
}
req openai_chat "POST /v1/chat/completions HTTP/1.1"$'\r\n'"authorization: Bearer $key"$'\r\n'"content-type: application/json" "$oa"
req openai_chat_stream "POST /chat/completions HTTP/1.1"$'\r\n'"Authorization: bearer $key"$'\r\n'"x-request-id: abc-123" "$oas"
req openai_responses "POST /v1/responses HTTP/1.1"$'\r\n'"authorization: Bearer $key" "$rsp"
req responses_websocket "GET /v1/responses HTTP/1.1"$'\r\n'"upgrade: websocket"$'\r\n'"connection: Upgrade" ""
req anthropic "POST /v1/messages?beta=true HTTP/1.1"$'\r\n'"x-api-key: $key"$'\r\n'"anthropic-version: 2023-06-01" "$an"
req anthropic_count "POST /v1/messages/count_tokens HTTP/1.1"$'\r\n'"x-api-key: $key"$'\r\n'"anthropic-version: 2023-06-01" "$an"
req gemini "POST /v1beta/models/mock-echo:generateContent?key=$key HTTP/1.1" "$gm"
req gemini_stream "POST /v1beta/models/mock-text%2D3:streamGenerateContent?alt=sse HTTP/1.1"$'\r\n'"x-goog-api-key: $key" "$gm"
req gemini_stream_array "POST /v1alpha/models/mock-echo:streamGenerateContent HTTP/1.1"$'\r\n'"x-goog-api-key: $key" "$gm"
req gemini_count "POST /v1/models/mock-echo:countTokens HTTP/1.1"$'\r\n'"x-goog-api-key: $key" "$gm"
req gemini_embed "POST /v1beta/models/mock-embed:embedContent HTTP/1.1"$'\r\n'"x-goog-api-key: $key" '{"content":{"parts":[{"text":"a"}]}}'
req gemini_batch_embed "POST /v1beta/models/mock-embed:batchEmbedContents HTTP/1.1"$'\r\n'"x-goog-api-key: $key" '{"requests":[{"model":"models/mock-embed","content":{"parts":[{"text":"a"}]}}]}'
req openai_embeddings "POST /v1/embeddings HTTP/1.1"$'\r\n'"authorization: Bearer $key" "$emb"
req azure_chat "POST /openai/deployments/mock-echo/chat/completions?api-version=2024-10-21 HTTP/1.1"$'\r\n'"api-key: $key" "$oa"
req azure_embeddings "POST /openai/deployments/mock-embed/embeddings?api-version=2024-10-21 HTTP/1.1"$'\r\n'"api-key: $key" "$emb"
req estimate "POST /v1/estimate?shape=anthropic HTTP/1.1"$'\r\n'"x-patchbay-key: $key" "$an"
req models_anthropic "GET /v1/models HTTP/1.1"$'\r\n'"x-api-key: $key"$'\r\n'"anthropic-version: 2023-06-01" ""
req models_gemini "GET /v1beta/models?pageSize=50 HTTP/1.1"$'\r\n'"x-goog-api-client: genai-js"$'\r\n'"x-goog-api-key: $key" ""
req root_head "HEAD / HTTP/1.1" ""
req healthz "GET /healthz/ HTTP/1.1" ""
req readyz "GET /readyz HTTP/1.1" ""
req wrong_method "PUT /v1/messages HTTP/1.1"$'\r\n'"x-api-key: $key" ""
req unknown_path "DELETE /v1beta/files/abc HTTP/1.1"$'\r\n'"x-goog-api-key: x" ""
req too_large "POST /v1/chat/completions HTTP/1.1"$'\r\n'"authorization: Bearer $key"$'\r\n'"content-length: 99999999999" "$oa"
req mock_override "POST /v1/chat/completions HTTP/1.1"$'\r\n'"authorization: Bearer $key" '{"model":"mock-agent","stream":true,"messages":[{"role":"user","content":"CALL f {\"a\":1}"}],"patchbay":{"ext":{"mock":{"chunks":3,"fail_status":503}}}}'
for f in ../crates/gateway-server/tests/fixtures/config/*.toml; do
  cp "$f" "seeds/config_toml/$(basename "$f")"
done
echo "seeded: $(find seeds -type f | wc -l) files"
