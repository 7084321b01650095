//! The signer held to AWS's Signature Version 4 test suite: the suite's example
//! credentials (`AKIDEXAMPLE`, `wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY`), region
//! `us-east-1`, service `service`, time `20150830T123600Z`, host
//! `example.amazonaws.com`, and the signatures the suite publishes for its cases.

use super::*;

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SCOPE: Scope<'static> = Scope {
    region: "us-east-1",
    service: "service",
    amz_date: "20150830T123600Z",
};
const HEADERS: [(&str, &str); 2] = [
    ("Host", "example.amazonaws.com"),
    ("X-Amz-Date", "20150830T123600Z"),
];

fn suite(method: &str, query: &str) -> String {
    let req = Request {
        method,
        path: "/",
        query,
        headers: &HEADERS,
        body: b"",
    };
    authorization(AKID, SECRET, &SCOPE, &req)
}

fn expected(signature: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature={signature}"
    )
}

#[test]
fn get_vanilla() {
    assert_eq!(
        suite("GET", ""),
        expected("5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    );
}

#[test]
fn get_vanilla_query_order_key_case() {
    assert_eq!(
        suite("GET", "Param2=value2&Param1=value1"),
        expected("b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")
    );
}

#[test]
fn post_vanilla() {
    assert_eq!(
        suite("POST", ""),
        expected("5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b")
    );
}

#[test]
fn the_canonical_request_of_get_vanilla() {
    let req = Request {
        method: "GET",
        path: "/",
        query: "",
        headers: &HEADERS,
        body: b"",
    };
    assert_eq!(
        canonical_request(&req),
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
         host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn bedrock_paths_are_encoded_again_and_values_trimmed() {
    // A model id's `:` is `%3A` on the wire and `%253A` in the canonical URI.
    assert_eq!(
        canonical_uri("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"),
        "/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse"
    );
    let (block, signed) = canonical_headers(&[("X-B", "  a   b "), ("host", "h"), ("x-b", "c")]);
    assert_eq!(block, "host:h\nx-b:a b,c\n");
    assert_eq!(signed, "host;x-b");
}

#[test]
fn amz_date_is_utc_basic_format() {
    let t = UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160);
    assert_eq!(amz_date(t), "20150830T123600Z");
}

#[test]
fn authorization_headers_parse_back() {
    let header = suite("POST", "");
    let p = parse_authorization(&header).unwrap();
    assert_eq!(p.access_key_id, AKID);
    assert_eq!(
        (p.date.as_str(), p.region.as_str(), p.service.as_str()),
        ("20150830", "us-east-1", "service")
    );
    assert_eq!(p.signed_headers, ["host", "x-amz-date"]);
    for (bad, words) in [
        ("Bearer abc", "does not start"),
        (
            "AWS4-HMAC-SHA256 Credential=A/2015/us-east-1/s/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
            "YYYYMMDD",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/s/aws4_request, SignedHeaders=host, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            "x-amz-date",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/s/aws4_request, SignedHeaders=host;x-amz-date, Signature=zz",
            "64 hex",
        ),
    ] {
        let err = parse_authorization(bad).unwrap_err();
        assert!(err.contains(words), "{bad}: {err}");
    }
}

#[test]
fn credentials_debug_hides_the_secrets() {
    let c = Credentials {
        access_key_id: AKID.into(),
        secret_access_key: SECRET.into(),
        session_token: Some("FwoGZXIvYXdzEJr-token".into()),
    };
    let shown = format!("{c:?}");
    assert!(
        shown.contains(AKID) && !shown.contains("EXAMPLEKEY") && !shown.contains("FwoG"),
        "{shown}"
    );
}
