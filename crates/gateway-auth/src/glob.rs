//! Model-name globs: `*` matches any run of characters (also none), `?` exactly one.

/// Whether `name` matches `pattern` (case-sensitive, whole string).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    // Where the last `*` was, and the name position it currently absorbs up to.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn stars_and_question_marks() {
        assert!(glob_match("*", ""));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("claude-*", "claude-opus-4-8"));
        assert!(!glob_match("claude-*", "gpt-5"));
        assert!(glob_match("gpt-?", "gpt-5"));
        assert!(!glob_match("gpt-?", "gpt-55"));
        assert!(glob_match("*-codex", "gpt-5-codex"));
        assert!(glob_match("g*-*-flash*", "gemini-3.5-flash-lite"));
        assert!(!glob_match("g*-*-flash", "gemini-3.5-flash-lite"));
        assert!(glob_match("a*b*c", "aXbYbZc"));
        assert!(!glob_match("exact", "exactly"));
        assert!(glob_match("é?", "éü"));
    }
}
