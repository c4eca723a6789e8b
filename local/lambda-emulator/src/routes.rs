//! The route table: `[workspace.metadata.lambda.watch.router]` of the workspace Cargo.toml,
//! the same table `cargo lambda watch` reads. Keys are exact paths, `/{*path}` is the
//! catch-all; any run of leading slashes routes like one (the contract: the app calls
//! `//api/v1/...`), so `//health` and `/health` are one key.

use std::collections::HashMap;
use std::sync::Arc;

/// The workspace manifest as it was when the emulator was built: the route table travels
/// inside the binary (a Docker image has no source tree).
pub const EMBEDDED_MANIFEST: &str = include_str!("../../../Cargo.toml");

pub const CATCH_ALL: &str = "/{*path}";

/// Where a request goes: the route key it matched (for the logs) and the function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub key: Arc<str>,
    pub function: Arc<str>,
}

#[derive(Debug, Default)]
pub struct RouteTable {
    exact: HashMap<String, Route>,
    catch_all: Option<Route>,
}

impl RouteTable {
    /// Reads the table from a manifest's text.
    pub fn from_manifest(text: &str) -> Result<Self, String> {
        let doc: toml::Table = toml::from_str(text).map_err(|e| format!("not TOML: {e}"))?;
        let router = ["workspace", "metadata", "lambda", "watch", "router"]
            .iter()
            .try_fold(&doc, |table, key| table.get(*key)?.as_table())
            .ok_or("no [workspace.metadata.lambda.watch.router] table")?;
        let mut routes = RouteTable::default();
        for (key, value) in router {
            let function = value
                .as_str()
                .ok_or_else(|| format!("route {key:?}: the value must be a function name"))?;
            routes.add(key, function)?;
        }
        if routes.exact.is_empty() && routes.catch_all.is_none() {
            return Err("the route table is empty".into());
        }
        Ok(routes)
    }

    fn add(&mut self, key: &str, function: &str) -> Result<(), String> {
        if function.is_empty() || function.contains(['/', '\\']) || function.starts_with('.') {
            return Err(format!("route {key:?}: {function:?} is no function name"));
        }
        let normalized = collapse_leading_slashes(key);
        if normalized == CATCH_ALL {
            self.set_catch_all(function)
        } else if !key.starts_with('/') || key.contains('{') {
            Err(format!(
                "route {key:?}: only exact paths and {CATCH_ALL} are supported"
            ))
        } else {
            self.add_exact(key, normalized, function)
        }
    }

    /// An exact path; distinct keys that normalise alike (`/health`, `//health`) must agree.
    fn add_exact(&mut self, key: &str, normalized: &str, function: &str) -> Result<(), String> {
        match self.exact.get(normalized) {
            Some(route) if &*route.function != function => {
                return Err(format!(
                    "routes {key:?} and {:?} lead to different functions",
                    route.key
                ));
            }
            _ => {}
        }
        self.exact.insert(
            normalized.to_string(),
            Route {
                key: normalized.into(),
                function: function.into(),
            },
        );
        Ok(())
    }

    /// The catch-all; a second one must name the same function.
    fn set_catch_all(&mut self, function: &str) -> Result<(), String> {
        match &self.catch_all {
            Some(route) if &*route.function != function => Err(format!(
                "two catch-all routes: {} and {function}",
                route.function
            )),
            _ => {
                self.catch_all = Some(Route {
                    key: CATCH_ALL.into(),
                    function: function.into(),
                });
                Ok(())
            }
        }
    }

    /// The route for a request path (the path only, as received).
    pub fn find(&self, path: &str) -> Option<&Route> {
        self.exact
            .get(collapse_leading_slashes(path))
            .or(self.catch_all.as_ref())
    }

    /// Every function the table names, once each, sorted.
    pub fn functions(&self) -> Vec<Arc<str>> {
        let mut names: Vec<Arc<str>> = self
            .exact
            .values()
            .chain(self.catch_all.as_ref())
            .map(|r| r.function.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// `////a//b` → `/a//b`: only the leading run counts (that is what the contract asks).
pub fn collapse_leading_slashes(path: &str) -> &str {
    let trimmed = path.trim_start_matches('/');
    if trimmed.len() == path.len() {
        path
    } else {
        &path[path.len() - trimmed.len() - 1..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = r#"
[workspace]
members = []
[workspace.metadata.lambda.watch.router]
"/health" = "health"
"//health" = "health"
"/api/v1/form" = "form"
"/bench/floor" = "floor"
"/{*path}" = "fallback"
"#;

    fn function<'a>(table: &'a RouteTable, path: &str) -> Option<&'a str> {
        table.find(path).map(|r| &*r.function)
    }

    fn each_routes_to(table: &RouteTable, paths: &[&str], expected: &str) {
        for path in paths {
            assert_eq!(function(table, path), Some(expected), "{path}");
        }
    }

    #[test]
    fn exact_paths_and_the_catch_all() {
        let t = RouteTable::from_manifest(TABLE).unwrap();
        assert_eq!(function(&t, "/health"), Some("health"));
        assert_eq!(function(&t, "/api/v1/form"), Some("form"));
        assert_eq!(function(&t, "/bench/floor"), Some("floor"));
        assert_eq!(function(&t, "/api/v1/form/"), Some("fallback"));
        assert_eq!(function(&t, "/api/v1"), Some("fallback"));
        assert_eq!(function(&t, "/"), Some("fallback"));
        assert_eq!(t.find("/health").unwrap().key.as_ref(), "/health");
        assert_eq!(t.find("/nothing").unwrap().key.as_ref(), CATCH_ALL);
        let functions = t.functions();
        let names: Vec<&str> = functions.iter().map(|f| &**f).collect();
        assert_eq!(names, ["fallback", "floor", "form", "health"]);
    }

    #[test]
    fn any_run_of_leading_slashes_routes_like_one() {
        let t = RouteTable::from_manifest(TABLE).unwrap();
        let paths = [
            "/api/v1/form",
            "//api/v1/form",
            "////api/v1/form",
            "//////////api/v1/form",
        ];
        each_routes_to(&t, &paths, "form");
        assert_eq!(function(&t, "/api//v1/form"), Some("fallback"));
        assert_eq!(collapse_leading_slashes("////a//b"), "/a//b");
        assert_eq!(collapse_leading_slashes("/"), "/");
        assert_eq!(collapse_leading_slashes("//"), "/");
        assert_eq!(collapse_leading_slashes("a"), "a");
    }

    #[test]
    fn internal_api_paths_are_ordinary_unknown_paths() {
        let t = RouteTable::from_manifest(TABLE).unwrap();
        let paths = [
            "/2018-06-01/runtime/invocation/next",
            "/.rt/2018-06-01/runtime/invocation/next",
            "/2015-03-31/functions/email/invocations",
            "/lambda-url/health",
        ];
        each_routes_to(&t, &paths, "fallback");
    }

    #[test]
    fn without_a_catch_all_unknown_paths_have_no_route() {
        let t =
            RouteTable::from_manifest("[workspace.metadata.lambda.watch.router]\n\"/a\" = \"a\"\n")
                .unwrap();
        assert_eq!(function(&t, "//a"), Some("a"));
        assert!(t.find("/b").is_none());
    }

    #[test]
    fn refusals() {
        let table = |body: &str| {
            RouteTable::from_manifest(&format!("[workspace.metadata.lambda.watch.router]\n{body}"))
        };
        assert!(table("\"/a\" = \"a\"\n\"//a\" = \"b\"\n").is_err());
        assert!(table("\"/a/{id}\" = \"a\"\n").is_err());
        assert!(table("\"a\" = \"a\"\n").is_err());
        assert!(table("\"/a\" = 1\n").is_err());
        assert!(table("\"/a\" = \"../a\"\n").is_err());
        assert!(table("").is_err());
        assert!(RouteTable::from_manifest("[workspace]\n").is_err());
        assert!(RouteTable::from_manifest("not toml [").is_err());
    }

    #[test]
    fn the_embedded_workspace_table_loads() {
        let t = RouteTable::from_manifest(EMBEDDED_MANIFEST).unwrap();
        assert_eq!(function(&t, "////api/v1/auth/login"), Some("auth-login"));
        assert_eq!(function(&t, "/health"), Some("health"));
        assert_eq!(function(&t, "/no/such/path"), Some("fallback"));
    }
}
