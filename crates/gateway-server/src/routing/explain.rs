//! Why a name resolved as it did, for the operator (`GET /admin/routing/resolve`).
//!
//! The steps are noted by [`Router::resolve`](super::Router::resolve)'s own code as it
//! runs (a [`Trail`] that is off on the request path and builds nothing), so the
//! explanation cannot drift from what requests get.

use super::{Router, Target, glob_match};

/// One decision taken while resolving a name, in the order taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The `auto` model: `rule` (`rules[0]`, `otherwise`, `cheapest`) chose `model`
    /// (`None` for `cheapest`, whose targets are the priced candidates).
    Auto {
        /// Which rule held.
        rule: String,
        /// The name it resolves next.
        model: Option<String>,
    },
    /// `name` is route `route`'s own `model`.
    Exact {
        /// The name looked up.
        name: String,
        /// The route's name.
        route: String,
        /// Glob routes (and the default) that match `name` too but come later.
        shadowed: Vec<String>,
    },
    /// `name` is one of route `route`'s `aliases`.
    RouteAlias {
        /// The name looked up.
        name: String,
        /// The route's name.
        route: String,
        /// Glob routes (and the default) that match `name` too but come later.
        shadowed: Vec<String>,
    },
    /// `[aliases]` maps `from` to `to`, which is resolved again.
    Alias {
        /// The name looked up.
        from: String,
        /// Its replacement.
        to: String,
    },
    /// `provider/model` names a configured provider directly.
    Explicit {
        /// The target.
        target: Target,
        /// Glob routes (and the default) that match the name too but come later.
        shadowed: Vec<String>,
    },
    /// The first glob route, in file order, whose pattern matches.
    Glob {
        /// The name looked up.
        name: String,
        /// The route's pattern.
        pattern: String,
        /// The route's name.
        route: String,
        /// Earlier glob patterns that did not match.
        passed: Vec<String>,
        /// Later glob routes (and the default) that match too.
        shadowed: Vec<String>,
    },
    /// No exact name, alias, provider or glob matched: the default route.
    Default {
        /// The name looked up.
        name: String,
        /// The route's name.
        route: String,
        /// The glob patterns that did not match.
        passed: Vec<String>,
    },
    /// Nothing matched and there is no default route.
    NotRouted {
        /// The name looked up.
        name: String,
    },
}

/// Where resolution notes its steps: off on the request path (nothing is built),
/// on for an explanation.
#[derive(Debug, Default)]
pub struct Trail {
    steps: Option<Vec<Step>>,
}

impl Trail {
    /// A trail that notes nothing.
    pub fn off() -> Trail {
        Trail { steps: None }
    }

    /// A trail that keeps every step.
    pub fn on() -> Trail {
        Trail {
            steps: Some(Vec::new()),
        }
    }

    /// Whether steps are kept (worth computing what only the explanation needs).
    pub fn is_on(&self) -> bool {
        self.steps.is_some()
    }

    /// Notes the step `make` builds, when the trail is on.
    pub fn note(&mut self, make: impl FnOnce() -> Step) {
        if let Some(steps) = &mut self.steps {
            steps.push(make());
        }
    }

    /// The steps noted, in order.
    pub fn into_steps(self) -> Vec<Step> {
        self.steps.unwrap_or_default()
    }
}

/// What the explanation adds to a match: the routes it took precedence over.
impl Router {
    /// The names of the glob routes from the `from`th on, then the default route's,
    /// that match `name` (for the explanation: what a match took precedence over).
    pub(super) fn globs_matching(&self, name: &str, from: usize) -> Vec<String> {
        self.globs
            .iter()
            .skip(from)
            .copied()
            .filter(|&i| glob_match(&self.routes[i].model, name))
            .chain(self.default)
            .map(|i| self.routes[i].name().to_owned())
            .collect()
    }

    /// The patterns of the glob routes in `range` (file order).
    pub(super) fn glob_patterns(
        &self,
        range: impl std::slice::SliceIndex<[usize], Output = [usize]>,
    ) -> Vec<String> {
        self.globs[range]
            .iter()
            .map(|&i| self.routes[i].model.clone())
            .collect()
    }
}
