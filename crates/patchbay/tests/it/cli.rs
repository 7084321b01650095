//! The `patchbay` binary as a newcomer runs it: `serve` with no config prints a key
//! and curl lines that work; SIGTERM stops it cleanly; `check` validates and probes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_patchbay");

/// One curl line of the banner as (url, headers, body).
fn parse_curl(line: &str) -> (String, Vec<(String, String)>, String) {
    let mut rest = line.strip_prefix("curl -sS ").unwrap();
    let url_end = if rest.starts_with('\'') {
        rest = &rest[1..];
        rest.find('\'').unwrap()
    } else {
        rest.find(' ').unwrap()
    };
    let url = rest[..url_end].to_owned();
    let mut headers = Vec::new();
    for part in line.split(" -H '").skip(1) {
        let h = &part[..part.find('\'').unwrap()];
        let (k, v) = h.split_once(": ").unwrap();
        headers.push((k.to_owned(), v.to_owned()));
    }
    let body = line
        .rsplit_once("-d '")
        .unwrap()
        .1
        .trim_end_matches('\'')
        .to_owned();
    (url, headers, body)
}

fn lines_left(lines: impl Iterator<Item = std::io::Result<String>>) -> usize {
    lines.count()
}

#[tokio::test]
async fn serve_without_config_prints_working_curl_lines_and_stops_on_sigterm() {
    // The default database goes to the working directory: use a scratch one.
    let dir = std::env::temp_dir().join(format!("patchbay-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(BIN)
        .current_dir(&dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
        text
    });
    let lines = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        let mut lines_iter = BufReader::new(stdout).lines();
        for line in lines_iter.by_ref() {
            let line = line.unwrap();
            let done = line.contains(":generateContent");
            lines.push(line);
            if done {
                break;
            }
        }
        // Keep reading so the server never writes into a closed pipe.
        let rest = std::thread::spawn(move || lines_left(lines_iter));
        (lines, rest)
    });
    let (lines, _rest) = tokio::time::timeout(Duration::from_secs(30), lines)
        .await
        .unwrap()
        .unwrap();
    let key = lines.iter().find_map(|l| l.strip_prefix("key: ")).unwrap();
    assert!(key.starts_with("pbk_"), "{key}");
    let curls: Vec<&String> = lines.iter().filter(|l| l.starts_with("curl ")).collect();
    assert_eq!(curls.len(), 5, "{lines:?}");
    let client = reqwest::Client::new();
    for line in curls {
        let (url, headers, body) = parse_curl(line);
        let mut req = client.post(&url).body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200, "{line}");
        let v: serde_json::Value = resp.json().await.unwrap();
        let text = v.to_string();
        assert!(text.contains("Hello"), "{line}: {text}");
    }
    // The shell's own `kill`: no procps needed.
    let status = Command::new("sh")
        .args(["-c", &format!("kill -TERM {}", child.id())])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap());
    let exit = tokio::time::timeout(Duration::from_secs(15), exit)
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(dir.join("patchbay.db").is_file());
    // The default access log: a text line per request on standard error, written out
    // before the exit; no colour codes, since standard error is not a terminal here.
    let log = log.join().unwrap();
    let answered: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("ts=") && l.contains(" status=200"))
        .collect();
    assert_eq!(answered.len(), 5, "{log}");
    assert!(
        answered.iter().all(|l| l.contains(" operation=chat")),
        "{log}"
    );
    assert!(!log.contains('\u{1b}'), "{log}");
    assert!(!log.contains(key), "the key never reaches the log");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_validates_and_probes() {
    let dir = std::env::temp_dir().join(format!("patchbay-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A provider nobody listens on: the config is valid, the probe fails.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let file = dir.join("p.toml");
    std::fs::write(
        &file,
        format!("[providers.o]\nkind = \"openai_compatible\"\nbase_url = \"http://{dead}/v1\"\n[[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"o\" }}]\n"),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["check", "-c"])
        .arg(&file)
        .args(["--no-probe"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = Command::new(BIN)
        .args(["check", "-c"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("probe o: FAILED"), "{text}");
    // The built-in mock passes its probe.
    let out = Command::new(BIN).args(["check"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("probe mock: ok"));
    // Unknown keys are named with their path.
    std::fs::write(&file, "[server]\nlisten = \"127.0.0.1:1\"\nlisen = 1\n").unwrap();
    let out = Command::new(BIN)
        .args(["check", "-c"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lisen"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Starts `patchbay serve -c config` on a free port; returns the child and base URL.
pub(crate) fn serve_with(
    config: &std::path::Path,
    dir: &std::path::Path,
) -> (std::process::Child, String) {
    serve_with_env(config, dir, &[])
}

/// As [`serve_with`], with these environment variables set for the server.
pub(crate) fn serve_with_env(
    config: &std::path::Path,
    dir: &std::path::Path,
    env: &[(&str, &str)],
) -> (std::process::Child, String) {
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .args(["serve", "--listen", "127.0.0.1:0", "-c"])
        .arg(config)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).unwrap();
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    (child, base)
}

pub(crate) fn stop(child: std::process::Child) {
    let mut child = child;
    Command::new("sh")
        .args(["-c", &format!("kill -TERM {}", child.id())])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}

#[tokio::test]
async fn a_cli_key_works_and_its_requests_show_in_usage_after_a_restart() {
    let dir = std::env::temp_dir().join(format!("patchbay-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("p.toml");
    std::fs::write(
        &config,
        // Two workers of their own each (the default layout is covered by the
        // config-less serve above), so the usage records of both reach the file.
        "[server]\nworkers = 2\nruntime = \"per_thread\"\n[storage]\npath = \"pb.db\"\n[providers.m]\nkind = \"mock\"\n[[routes]]\nmodel = \"*\"\ntargets = [{ provider = \"m\" }]\n",
    )
    .unwrap();
    let keys = |args: &[&str]| {
        let out = Command::new(BIN)
            .current_dir(&dir)
            .arg("keys")
            .args(args)
            .args(["-c", "p.toml"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let created = keys(&["create", "--name", "sdk", "--style", "openai"]);
    let secret = created.lines().last().unwrap().to_owned();
    assert!(secret.starts_with("sk-"), "{created}");
    assert!(keys(&["list"]).contains("sdk"));
    // No plaintext in the database file.
    let bytes = std::fs::read(dir.join("pb.db")).unwrap();
    assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));

    let (child, base) = serve_with(&config, &dir);
    let client = reqwest::Client::new();
    for path in ["/v1/chat/completions", "/v1/messages"] {
        let resp = client
            .post(format!("{base}{path}"))
            .bearer_auth(&secret)
            .json(&serde_json::json!({"model":"mock-echo","max_tokens":50,"messages":[{"role":"user","content":"hello there"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
    stop(child);
    // The usage written before the exit is there, from a separate process.
    let out = Command::new(BIN)
        .current_dir(&dir)
        .args(["usage", "-c", "p.toml", "--by", "key", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let key_id = created.split_whitespace().next().unwrap();
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["group"] == key_id)
        .unwrap_or_else(|| panic!("{rows}"));
    assert_eq!(row["requests"], 2);
    assert!(row["output_tokens"].as_u64().unwrap() > 0);
    // Revoked from the CLI while a server runs: refused within about a second.
    let (child, base) = serve_with(&config, &dir);
    keys(&["revoke", "sdk"]);
    let mut refused = false;
    for _ in 0..40 {
        let status = client
            .post(format!("{base}/v1/chat/completions"))
            .bearer_auth(&secret)
            .json(&serde_json::json!({"model":"mock-echo","messages":[{"role":"user","content":"x"}]}))
            .send()
            .await
            .unwrap()
            .status();
        if status == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "the revoked key still worked after 4 s");
    stop(child);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn sighup_and_edits_reload_the_config_and_a_broken_file_keeps_the_old_one() {
    let dir = std::env::temp_dir().join(format!("patchbay-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("p.toml");
    let text = |secret: &str| {
        format!(
            "[admin]\nenabled = false\n[storage]\npath = \"pb.db\"\n[providers.m]\nkind = \"mock\"\n\
             [[routes]]\nmodel = \"*\"\ntargets = [{{ provider = \"m\" }}]\n\
             [[keys]]\nname = \"k\"\nsecret = \"{secret}\"\n"
        )
    };
    let (first, second) = (
        "pbk_reload_first_0123456789",
        "pbk_reload_second_0123456789",
    );
    std::fs::write(&config, text(first)).unwrap();
    let log = dir.join("stderr.log");
    let mut child = Command::new(BIN)
        .current_dir(&dir)
        .env("PATCHBAY_LOG", "info")
        .args(["serve", "--listen", "127.0.0.1:0", "-c"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    let client = reqwest::Client::new();
    let status = |key: &'static str| {
        let client = client.clone();
        let url = format!("{base}/v1/chat/completions");
        async move {
            client
                .post(url)
                .bearer_auth(key)
                .json(&serde_json::json!({"model":"mock-echo","messages":[{"role":"user","content":"x"}]}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let wait_log = |needle: &'static str| {
        let log = log.clone();
        async move {
            for _ in 0..60 {
                if std::fs::read_to_string(&log)
                    .unwrap_or_default()
                    .contains(needle)
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!(
                "{needle:?} not logged: {}",
                std::fs::read_to_string(&log).unwrap()
            );
        }
    };
    assert_eq!(status(first).await, 200);

    // SIGHUP reloads (it used to end the process).
    Command::new("sh")
        .args(["-c", &format!("kill -HUP {}", child.id())])
        .status()
        .unwrap();
    wait_log("trigger=Signal").await;
    assert_eq!(status(first).await, 200, "still serving after SIGHUP");

    // An edit on disk is picked up without a signal: the declared key changes.
    std::fs::write(&config, text(second)).unwrap();
    wait_log("trigger=FileChanged").await;
    assert_eq!(status(second).await, 200);
    assert_eq!(status(first).await, 401);

    // A broken file is refused with the bad key's path; the old config serves on.
    std::fs::write(&config, format!("{}[[routes]]\nmodel = 7\n", text(first))).unwrap();
    wait_log("configuration not reloaded").await;
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("routes[1].model"), "{logged}");
    assert_eq!(status(second).await, 200);
    assert_eq!(status(first).await, 401);
    stop(child);
    std::fs::remove_dir_all(&dir).unwrap();
}
