//! AWS Signature Version 4 for request headers, written on ring's HMAC-SHA256 and
//! SHA-256 (no AWS SDK): the canonical request, the string to sign, the derived
//! signing key and the `Authorization` header; and the reverse, for the
//! Bedrock-shaped mock: reading an `Authorization` header and checking its signature.
//!
//! The canonical form follows AWS's rules for services other than S3: the path is
//! URI-encoded once more (each segment, `%` included), query parameters are encoded
//! and sorted, header names lower-cased and sorted, values trimmed with inner runs
//! of spaces collapsed. The unit tests hold it to AWS's published test-suite values.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use ring::{digest, hmac};

/// The algorithm name of the header and the string to sign.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// An access key: its id, secret and, for temporary credentials, the session token.
/// `Debug` shows the id only.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `AKIA…` / `ASIA…`.
    pub access_key_id: String,
    /// The secret; never logged, never sent.
    pub secret_access_key: String,
    /// Sent as `x-amz-security-token` (signed) when set.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Where and when a signature applies: `region`, `service` and the request time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope<'a> {
    /// `us-east-1`, ...
    pub region: &'a str,
    /// `bedrock` for Bedrock's runtime API.
    pub service: &'a str,
    /// `YYYYMMDD'T'HHMMSS'Z'`, the `x-amz-date` value.
    pub amz_date: &'a str,
}

impl Scope<'_> {
    /// `YYYYMMDD`.
    fn date(&self) -> &str {
        self.amz_date.get(..8).unwrap_or(self.amz_date)
    }

    /// `date/region/service/aws4_request`.
    fn credential_scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date(),
            self.region,
            self.service
        )
    }
}

/// The parts of a request a signature covers. `headers` are the headers to sign
/// (names in any case; `host` and `x-amz-date` must be among them).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The path as sent on the wire (already percent-encoded).
    pub path: &'a str,
    /// The query string as sent, without `?` (empty for none).
    pub query: &'a str,
    /// The headers to sign.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body.
    pub body: &'a [u8],
}

/// `time` as `x-amz-date` wants it: `20150830T123600Z`.
pub fn amz_date(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let (date, rest) = gateway_protocol::calendar::split_unix_secs(secs);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        date.year,
        date.month,
        date.day,
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Lower-case hex of the SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, bytes).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> hmac::Tag {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
}

/// RFC 3986 encoding as SigV4 wants it: unreserved characters kept, every other byte
/// `%XX` in upper case.
fn uri_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hexval = |c: u8| char::from(c).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hexval(bytes[i + 1]), hexval(bytes[i + 2])) {
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The canonical URI: each segment of the wire path encoded again.
fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    let mut out = String::with_capacity(path.len() + 16);
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        uri_encode(segment, &mut out);
    }
    out
}

/// The canonical query: each name and value decoded, encoded, then sorted.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let mut ek = String::new();
            let mut ev = String::new();
            uri_encode(&percent_decode(k), &mut ek);
            uri_encode(&percent_decode(v), &mut ev);
            (ek, ev)
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The canonical headers block and the signed-headers list.
fn canonical_headers(headers: &[(&str, &str)]) -> (String, String) {
    let mut list: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| {
            let value = v.split_whitespace().collect::<Vec<_>>().join(" ");
            (n.to_ascii_lowercase(), value)
        })
        .collect();
    list.sort();
    // Repeated names are one line, values joined by commas.
    let mut merged: Vec<(String, String)> = Vec::with_capacity(list.len());
    for (n, v) in list {
        match merged.last_mut() {
            Some((ln, lv)) if *ln == n => {
                lv.push(',');
                lv.push_str(&v);
            }
            _ => merged.push((n, v)),
        }
    }
    let block: String = merged.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    let signed = merged
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    (block, signed)
}

/// The canonical request (step 1 of the signing process).
pub fn canonical_request(req: &Request<'_>) -> String {
    let (block, signed) = canonical_headers(req.headers);
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        canonical_uri(req.path),
        canonical_query(req.query),
        block,
        signed,
        sha256_hex(req.body)
    )
}

/// The string to sign (step 2).
pub fn string_to_sign(scope: &Scope<'_>, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{}\n{}\n{}",
        scope.amz_date,
        scope.credential_scope(),
        sha256_hex(canonical_request.as_bytes())
    )
}

/// The signature (steps 3 and 4): the signing key derived from `secret` and the
/// scope, and the HMAC of the string to sign with it, in hex.
pub fn signature(secret: &str, scope: &Scope<'_>, req: &Request<'_>) -> String {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), scope.date().as_bytes());
    let k_region = hmac_sha256(k_date.as_ref(), scope.region.as_bytes());
    let k_service = hmac_sha256(k_region.as_ref(), scope.service.as_bytes());
    let k_signing = hmac_sha256(k_service.as_ref(), b"aws4_request");
    let to_sign = string_to_sign(scope, &canonical_request(req));
    hex(hmac_sha256(k_signing.as_ref(), to_sign.as_bytes()).as_ref())
}

/// The `Authorization` header value for `req`.
pub fn authorization(
    access_key_id: &str,
    secret: &str,
    scope: &Scope<'_>,
    req: &Request<'_>,
) -> String {
    let (_, signed) = canonical_headers(req.headers);
    format!(
        "{ALGORITHM} Credential={access_key_id}/{}, SignedHeaders={signed}, Signature={}",
        scope.credential_scope(),
        signature(secret, scope, req)
    )
}

/// A parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The access key id of the credential.
    pub access_key_id: String,
    /// `YYYYMMDD` of the credential scope.
    pub date: String,
    /// The scope's region.
    pub region: String,
    /// The scope's service.
    pub service: String,
    /// The signed header names, lower case, in order.
    pub signed_headers: Vec<String>,
    /// The hex signature.
    pub signature: String,
}

/// Reads an `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
/// Signature=…` value; the error says what is malformed.
pub fn parse_authorization(value: &str) -> Result<Parsed, String> {
    let rest = value
        .strip_prefix(ALGORITHM)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(|| format!("the Authorization header does not start with `{ALGORITHM} `"))?;
    let mut credential = None;
    let mut signed = None;
    let mut sig = None;
    for part in rest.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| format!("`{}` is not key=value", part.trim()))?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => sig = Some(v),
            other => return Err(format!("unknown Authorization component `{other}`")),
        }
    }
    let credential = credential.ok_or("no Credential")?;
    let fields: Vec<&str> = credential.split('/').collect();
    let [akid, date, region, service, "aws4_request"] = fields.as_slice() else {
        return Err(format!(
            "Credential `{credential}` is not id/date/region/service/aws4_request"
        ));
    };
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("the credential date `{date}` is not YYYYMMDD"));
    }
    let signature = sig.ok_or("no Signature")?;
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("the Signature is not 64 hex digits".to_owned());
    }
    let signed_headers: Vec<String> = signed
        .ok_or("no SignedHeaders")?
        .split(';')
        .map(str::to_owned)
        .collect();
    for must in ["host", "x-amz-date"] {
        if !signed_headers.iter().any(|h| h == must) {
            return Err(format!("SignedHeaders does not include `{must}`"));
        }
    }
    Ok(Parsed {
        access_key_id: (*akid).to_owned(),
        date: (*date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
        signed_headers,
        signature: signature.to_owned(),
    })
}

#[cfg(test)]
mod tests;
