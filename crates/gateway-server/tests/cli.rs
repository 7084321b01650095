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
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
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
    assert_eq!(curls.len(), 4, "{lines:?}");
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
