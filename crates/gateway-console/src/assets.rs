//! The console's files, embedded in the binary: one HTML page, one style sheet, the
//! JavaScript modules of the pages and an icon. Hand-written, no build step, nothing
//! vendored; each is served at `/assets/<name>` (the page at `/`).

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Its name under `/assets/` (`index.html` is served at `/`).
    pub name: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub bytes: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            bytes: include_bytes!(concat!("../assets/", $name)),
        }
    };
}

/// Every embedded file.
pub const ALL: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("app.css", CSS),
    asset!("errors.js", JS),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("chart.js", JS),
    asset!("login.js", JS),
    asset!("overview.js", JS),
    asset!("keys.js", JS),
    asset!("key.js", JS),
    asset!("policy.js", JS),
    asset!("widgets.js", JS),
    asset!("projects.js", JS),
    asset!("logs.js", JS),
    asset!("fields.js", JS),
    asset!("providers.js", JS),
    asset!("provider-form.js", JS),
    asset!("reloads.js", JS),
    asset!("usage.js", JS),
    asset!("routes.js", JS),
    asset!("tools.js", JS),
    asset!("live.js", JS),
    asset!("icon.svg", SVG),
];

/// The page every console URL starts from.
pub fn page() -> &'static Asset {
    &ALL[0]
}

/// The file named `name`.
pub fn find(name: &str) -> Option<&'static Asset> {
    ALL.iter().find(|a| a.name == name)
}

/// What the first load transfers: every file (the page loads them all up front).
pub fn total_bytes() -> usize {
    ALL.iter().map(|a| a.bytes.len()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every absolute (`http://`, `https://`) or protocol-relative (`"//host`) URL in
    /// `text`, in order. A `//` comment is neither.
    fn urls(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (at, _) in text.match_indices("//") {
            let before = &text[..at];
            let start = if before.ends_with("https:") {
                at - 6
            } else if before.ends_with("http:") {
                at - 5
            } else if before.ends_with(['"', '\'', '(', '=', '`']) {
                at
            } else {
                continue;
            };
            let url: String = text[start..]
                .chars()
                .take_while(|c| !c.is_whitespace() && !"\"'`)<>".contains(*c))
                .collect();
            out.push(url);
        }
        out
    }

    #[test]
    fn no_asset_names_another_host() {
        // The only URL allowed is the SVG namespace, which is a name, not a request.
        const SVG_NS: &str = "http://www.w3.org/2000/svg";
        for a in ALL {
            let text = std::str::from_utf8(a.bytes).expect("assets are UTF-8");
            let found: Vec<String> = urls(text).into_iter().filter(|u| u != SVG_NS).collect();
            assert!(found.is_empty(), "{} names {found:?}", a.name);
            assert!(
                !text.contains("@import"),
                "{} imports a style sheet",
                a.name
            );
        }
    }

    #[test]
    fn the_scanner_sees_urls() {
        assert_eq!(
            urls("src='https://cdn.example/x.js' and http://a.b url(//fonts.example/f) // note"),
            [
                "https://cdn.example/x.js",
                "http://a.b",
                "//fonts.example/f"
            ]
        );
    }

    #[test]
    fn the_page_has_no_inline_script_or_style() {
        let page = std::str::from_utf8(page().bytes).unwrap();
        assert!(page.starts_with("<!doctype html>"));
        for tag in page.split("<script").skip(1) {
            let open = &tag[..tag.find('>').expect("closed tag")];
            assert!(open.contains("src=\"/assets/"), "inline script: {open}");
            assert!(tag[tag.find('>').unwrap() + 1..].starts_with("</script>"));
        }
        assert!(!page.contains("<style"), "inline style element");
        assert!(!page.contains("style=\""), "inline style attribute");
        for attr in page.split(" on").skip(1) {
            let name: String = attr.chars().take_while(char::is_ascii_alphabetic).collect();
            assert!(
                !attr[name.len()..].starts_with('='),
                "inline event handler on{name}"
            );
        }
        for a in ALL {
            let text = std::str::from_utf8(a.bytes).unwrap();
            for banned in ["eval(", "new Function", "innerHTML", "document.write"] {
                assert!(!text.contains(banned), "{} uses {banned}", a.name);
            }
        }
    }

    #[test]
    fn every_module_the_page_imports_is_embedded() {
        for a in ALL.iter().filter(|a| a.name.ends_with(".js")) {
            let text = std::str::from_utf8(a.bytes).unwrap();
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let from = line.rsplit("from").next().unwrap();
                let name = from
                    .trim()
                    .trim_end_matches(';')
                    .trim_matches(['"', '\''])
                    .trim_start_matches("./");
                assert!(find(name).is_some(), "{} imports {name}", a.name);
            }
        }
    }

    #[test]
    fn the_first_load_is_small() {
        assert!(total_bytes() <= 300 * 1024, "{} bytes", total_bytes());
    }
}
