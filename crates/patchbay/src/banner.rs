//! What `serve` prints when it is ready: the URL clients use, the key, and one
//! working curl line per API shape.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use gateway_server::config::Config;

/// The text printed when the server is ready: the URL, the key, and one working curl
/// line per API shape (OpenAI Chat, OpenAI Responses, Anthropic Messages, Ollama
/// `/api/chat`, Gemini generateContent), each with that shape's usual auth header. The
/// Gemini line comes last: `serve`'s test reads up to it.
pub fn ready_banner(cfg: &Config, key: &str) -> String {
    let base = base_url(cfg);
    let model = |example: &str| sample_model(cfg, example);
    let (chat, anthropic, gemini) = (
        model("gpt-5-mock"),
        model("claude-opus-4-8"),
        model("gemini-3.5-flash"),
    );
    let mut s = String::new();
    let _ = writeln!(s, "patchbay is listening on {base}");
    let _ = writeln!(s, "key: {key}");
    let _ = writeln!(s);
    let _ = writeln!(s, "# OpenAI Chat Completions (base URL {base}/v1)");
    let _ = writeln!(
        s,
        "curl -sS {base}/v1/chat/completions -H 'Authorization: Bearer {key}' -H 'content-type: application/json' -d '{{\"model\":\"{chat}\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hello\"}}]}}'"
    );
    let _ = writeln!(s, "# OpenAI Responses");
    let _ = writeln!(
        s,
        "curl -sS {base}/v1/responses -H 'Authorization: Bearer {key}' -H 'content-type: application/json' -d '{{\"model\":\"{chat}\",\"input\":\"Hello\"}}'"
    );
    let _ = writeln!(s, "# Anthropic Messages (base URL {base})");
    let _ = writeln!(
        s,
        "curl -sS {base}/v1/messages -H 'x-api-key: {key}' -H 'anthropic-version: 2023-06-01' -H 'content-type: application/json' -d '{{\"model\":\"{anthropic}\",\"max_tokens\":256,\"messages\":[{{\"role\":\"user\",\"content\":\"Hello\"}}]}}'"
    );
    let _ = writeln!(s, "# Ollama /api/chat (OLLAMA_HOST={base})");
    let _ = writeln!(
        s,
        "curl -sS {base}/api/chat -H 'Authorization: Bearer {key}' -H 'content-type: application/json' -d '{{\"model\":\"{chat}\",\"stream\":false,\"messages\":[{{\"role\":\"user\",\"content\":\"Hello\"}}]}}'"
    );
    let _ = writeln!(s, "# Gemini generateContent (base URL {base})");
    let _ = writeln!(
        s,
        "curl -sS '{base}/v1beta/models/{gemini}:generateContent' -H 'x-goog-api-key: {key}' -H 'content-type: application/json' -d '{{\"contents\":[{{\"role\":\"user\",\"parts\":[{{\"text\":\"Hello\"}}]}}]}}'"
    );
    s
}

/// The URL clients use: the listen address, with an unspecified address
/// (`0.0.0.0`, `::`) replaced by loopback.
pub fn base_url(cfg: &Config) -> String {
    let scheme = if cfg.server.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let addr = cfg.server.listen;
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("{scheme}://{}", SocketAddr::new(ip, addr.port()))
}

/// A model name the configuration routes, for examples: `example` when a default
/// route exists, else the first exact route name, else `provider/model` of the first
/// target. Names go into URLs and shell quotes, so only plain ones are picked.
fn sample_model(cfg: &Config, example: &str) -> String {
    let plain = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    };
    if cfg.routes.iter().any(|r| r.is_default()) {
        return example.to_owned();
    }
    if let Some(r) = cfg
        .routes
        .iter()
        .find(|r| !r.is_pattern() && plain(&r.model))
    {
        return r.model.clone();
    }
    cfg.routes
        .iter()
        .flat_map(|r| &r.targets)
        .find_map(|t| t.model.as_ref().map(|m| format!("{}/{m}", t.provider)))
        .unwrap_or_else(|| example.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banner_has_the_url_the_key_and_one_line_per_shape() {
        let cfg = Config::default_mock_with_key("pbk_test");
        let b = ready_banner(&cfg, "pbk_test");
        assert!(b.contains("http://127.0.0.1:4000"), "{b}");
        assert!(b.contains("key: pbk_test"));
        assert_eq!(b.matches("curl ").count(), 5);
        assert!(b.contains("/api/chat -H 'Authorization: Bearer pbk_test'"));
        assert!(b.contains("/v1/chat/completions -H 'Authorization: Bearer pbk_test'"));
        assert!(b.contains("/v1/responses -H 'Authorization: Bearer pbk_test'"));
        assert!(b.contains("/v1/messages -H 'x-api-key: pbk_test' -H 'anthropic-version"));
        assert!(b.contains(":generateContent' -H 'x-goog-api-key: pbk_test'"));
        assert!(b.contains("\"model\":\"claude-opus-4-8\""));
        assert!(b.contains("models/gemini-3.5-flash:generateContent"));
        // The JSON bodies parse.
        for line in b.lines().filter(|l| l.starts_with("curl")) {
            let body = line.rsplit_once("-d '").unwrap().1.trim_end_matches('\'');
            serde_json::from_str::<serde_json::Value>(body).unwrap();
        }
    }

    #[test]
    fn banner_models_are_routed_names() {
        let text = "[providers.o]\nkind = \"openai\"\n[[routes]]\nmodel = \"claude-*\"\ntargets = [{ provider = \"o\", model = \"gpt-5\" }]\n[[routes]]\nmodel = \"fast\"\ntargets = [{ provider = \"o\" }]";
        let cfg = Config::from_toml_str(text, &|_| None).unwrap();
        let b = ready_banner(&cfg, "k");
        assert_eq!(b.matches("\"model\":\"fast\"").count(), 4, "{b}");
        assert!(b.contains("models/fast:generateContent"));
    }

    #[test]
    fn unspecified_listen_addresses_print_as_loopback() {
        let mut cfg = Config::default_mock_with_key("k");
        cfg.server.listen = "0.0.0.0:8080".parse().unwrap();
        assert_eq!(base_url(&cfg), "http://127.0.0.1:8080");
        cfg.server.listen = "[::]:8080".parse().unwrap();
        assert_eq!(base_url(&cfg), "http://[::1]:8080");
    }
}
