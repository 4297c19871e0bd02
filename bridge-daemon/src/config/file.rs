//! The configuration file (`bridge-daemon --config FILE`), in TOML.
//!
//! ```toml
//! [server]
//! listen = "127.0.0.1:7320"
//! allow_origin = ["https://course.example.edu"]
//! audit_log = "/var/log/sockbridge-audit.jsonl"
//!
//! [limits]
//! max_sessions = 64
//! connect_timeout = "10s"          # or a number of seconds
//!
//! [connect]                        # pages whose origin has no [[policy]] of its own
//! allow = ["public:443/tcp"]       # own (and labs) are always allowed
//! deny = ["203.0.113.0/24"]
//! unix = ["/run/app.sock"]
//!
//! [[policy]]
//! origins = ["http://localhost:4173"]
//! allow = ["127.0.0.1:5432/tcp"]
//! ```
//!
//! Every key is optional; a key the daemon does not know, a value of the wrong type, or a rule it
//! cannot read stops start-up with a message that names it. Command-line options add to the lists
//! and override the single values.

use crate::policy::rule::{Rule, Set, Target};
use crate::policy::space::Space;
use crate::policy::{OriginRules, Ruleset, normalize_unix_path};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `[server]`.
    #[serde(default)]
    pub server: ServerSection,
    /// `[limits]`.
    #[serde(default)]
    pub limits: LimitsSection,
    /// `[connect]`: the rules of pages whose origin has no `[[policy]]`.
    #[serde(default)]
    pub connect: RulesSection,
    /// `[[policy]]`: rules for the pages of particular origins.
    #[serde(default)]
    pub policy: Vec<PolicySection>,
}

/// `[server]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--allow-origin`.
    #[serde(default)]
    pub allow_origin: Vec<String>,
    /// `--allow-host`.
    #[serde(default)]
    pub allow_host: Vec<String>,
    /// `--token-file`.
    pub token_file: Option<PathBuf>,
    /// `false` is `--no-token`.
    pub token: Option<bool>,
    /// `--audit-log`.
    pub audit_log: Option<PathBuf>,
    /// `--web-root`.
    pub web_root: Option<PathBuf>,
    /// `true` is `--unix`.
    pub unix: Option<bool>,
    /// `--unix-dir`.
    pub unix_dir: Option<PathBuf>,
    /// `false` is `--no-labs`.
    pub labs: Option<bool>,
    /// `--network`: `"shared"` or `"private"`.
    pub network: Option<String>,
    /// `--allow-metadata`.
    pub allow_metadata: Option<bool>,
    /// `true` is `--hosted`.
    pub hosted: Option<bool>,
    /// `--join-links`.
    pub join_links: Option<PathBuf>,
    /// `--identity-header`.
    pub identity_header: Option<String>,
    /// `--trusted-proxy`.
    #[serde(default)]
    pub trusted_proxy: Vec<std::net::IpAddr>,
    /// `--metrics-listen`.
    pub metrics_listen: Option<SocketAddr>,
    /// `--drain-timeout`, in seconds (`30`, `2.5`, `"500ms"`).
    pub drain_timeout: Option<Seconds>,
}

/// `[connect]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesSection {
    /// Allow rules.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Deny rules.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Unix socket paths.
    #[serde(default)]
    pub unix: Vec<String>,
}

/// One `[[policy]]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    /// The origins it is for.
    pub origins: Vec<String>,
    /// Allow rules.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Deny rules.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Unix socket paths.
    #[serde(default)]
    pub unix: Vec<String>,
}

/// A duration: a number of seconds, or a string with a unit (`"500ms"`, `"10s"`, `"15m"`, `"1h"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seconds(pub Duration);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Float(f64),
            Text(String),
        }
        let bad = || {
            serde::de::Error::custom("a duration is a number of seconds or a string like \"500ms\", \"10s\", \"15m\"")
        };
        let duration = match Raw::deserialize(d)? {
            Raw::Int(n) => Duration::from_secs(n),
            Raw::Float(f) => Duration::try_from_secs_f64(f).map_err(|_| bad())?,
            Raw::Text(t) => parse_duration(&t).ok_or_else(bad)?,
        };
        Ok(Seconds(duration))
    }
}

/// `"500ms"`, `"10s"`, `"2.5s"`, `"15m"`, `"1h"`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let n: f64 = number.parse().ok()?;
    let scale = match unit.trim() {
        "ms" => 0.001,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(n * scale).ok()
}

pub use super::LimitsSection;

/// Reads the file's text; the error says where and what.
pub fn parse(text: &str) -> Result<FileConfig, String> {
    toml::from_str(text).map_err(|e| e.to_string())
}

/// Parses rules, naming the bad one: `where` says where they came from (`"--allow-connect"`,
/// `"[[policy]] 2, deny"`). Allow rules may not name the `metadata` set.
pub fn rules(allow: &[String], deny: &[String], unix: &[String], place: &str) -> Result<Ruleset, String> {
    let parse = |list: &[String], what: &str| -> Result<Vec<Rule>, String> {
        list.iter().map(|text| text.parse::<Rule>().map_err(|e| format!("{place}{what}: {e}"))).collect()
    };
    let allow = parse(allow, "allow")?;
    if let Some(r) = allow.iter().find(|r| r.target == Target::Set(Set::Space(Space::Metadata))) {
        return Err(format!(
            "{place}allow: {:?}: metadata services cannot be allowed as a set; name the exact address and start the daemon with --allow-metadata",
            r.to_string()
        ));
    }
    let deny = parse(deny, "deny")?;
    let unix = unix
        .iter()
        .map(|text| unix_path(text).map_err(|why| format!("{place}unix: {text:?}: {why}")))
        .collect::<Result<_, _>>()?;
    Ok(Ruleset { allow, deny, unix })
}

/// A Unix socket path rule: `unix:/abs/path` (Deno's form) or `/abs/path`.
fn unix_path(text: &str) -> Result<PathBuf, &'static str> {
    let path = text.strip_prefix("unix:").unwrap_or(text);
    if path.contains('*') {
        return Err("wildcards are not accepted; name each socket path");
    }
    if !path.starts_with('/') {
        return Err("a Unix socket rule is an absolute path: unix:/run/app.sock");
    }
    let path = normalize_unix_path(path).ok_or("not a path to a file (no trailing '/')")?;
    if path.as_os_str().len() >= crate::sandbox::SUN_PATH_LEN {
        return Err("longer than a Unix socket address holds (107 bytes)");
    }
    Ok(path)
}

/// An origin is `null` or `scheme://host[:port]` with scheme http or https, in lower case, and
/// nothing else.
pub fn check_origin(origin: &str) -> Result<(), &'static str> {
    if origin == "null" {
        return Ok(());
    }
    let Some((scheme, rest)) = origin.split_once("://") else {
        return Err("an origin looks like http://localhost:8000");
    };
    if scheme != "http" && scheme != "https" {
        return Err("the scheme must be http or https");
    }
    let bad = rest.is_empty()
        || rest.contains(['/', '?', '#', '@', '*', ' '])
        || rest.chars().any(|c| c.is_ascii_uppercase());
    if bad {
        return Err("an origin is scheme://host[:port] in lower case, with no path, wildcard or user part");
    }
    Ok(())
}

impl FileConfig {
    /// The `[[policy]]` sections as rules, checked.
    pub fn origin_rules(&self) -> Result<Vec<OriginRules>, String> {
        self.policy
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let place = format!("[[policy]] {}, ", i + 1);
                if p.origins.is_empty() {
                    return Err(format!("{place}origins: name at least one origin"));
                }
                for origin in &p.origins {
                    check_origin(origin).map_err(|why| format!("{place}origins: {origin:?}: {why}"))?;
                }
                Ok(OriginRules { origins: p.origins.clone(), rules: rules(&p.allow, &p.deny, &p.unix, &place)? })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limits;

    const EXAMPLE: &str = r#"
[server]
listen = "127.0.0.1:7320"
allow_origin = ["https://course.example.edu"]

[limits]
max_sessions = 10
connect_timeout = "2.5s"
idle_timeout = 600

[connect]
allow = ["public:443/tcp"]
deny = ["203.0.113.0/24"]
unix = ["unix:/run/../run/app.sock"]

[[policy]]
origins = ["http://localhost:4173"]
allow = ["127.0.0.1:5432/tcp"]
"#;

    #[test]
    fn example_reads() {
        let file = parse(EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
        let limits = file.limits.apply(Limits::default());
        assert_eq!(limits.max_sessions, 10);
        assert_eq!(limits.connect_timeout, Duration::from_millis(2500));
        assert_eq!(limits.idle_timeout, Duration::from_secs(600));
        assert_eq!(limits.rpc_rate, Limits::default().rpc_rate, "unset values keep their defaults");
        let c = &file.connect;
        let rules = rules(&c.allow, &c.deny, &c.unix, "[connect] ").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rules.unix, [PathBuf::from("/run/app.sock")]);
        let origin_rules = file.origin_rules().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(origin_rules[0].origins, ["http://localhost:4173"]);
    }

    #[test]
    fn c1_bad_entries_are_named() {
        let cases = [
            ("[server]\nlisten = 5", "listen"),
            ("[server]\nlisen = \"127.0.0.1:1\"", "lisen"),
            ("[limits]\nmax_socket = 3", "max_socket"),
            ("[limits]\nconnect_timeout = \"soon\"", "duration"),
            ("[nonsense]\n", "nonsense"),
        ];
        for (text, words) in cases {
            match parse(text) {
                Ok(_) => panic!("{text:?} accepted"),
                Err(e) => assert!(e.contains(words), "{text:?}: {e}"),
            }
        }
        let long = format!("/{}", "x".repeat(120));
        let bad_rules = [
            (vec!["https://x.com"], vec![], vec![], "URLs are not supported"),
            (vec!["::1:80"], vec![], vec![], "brackets"),
            (vec![], vec!["10.0.0.0/33"], vec![], "prefix length"),
            (vec!["metadata"], vec![], vec![], "--allow-metadata"),
            (vec![], vec![], vec!["*"], "wildcards"),
            (vec![], vec![], vec!["unix:relative.sock"], "absolute"),
            (vec![], vec![], vec!["/run/dir/"], "trailing"),
            (vec![], vec![], vec![long.as_str()], "107 bytes"),
        ];
        for (allow, deny, unix, words) in bad_rules {
            let own = |l: Vec<&str>| l.into_iter().map(String::from).collect::<Vec<_>>();
            match rules(&own(allow), &own(deny), &own(unix), "--x ") {
                Ok(r) => panic!("accepted: {r:?}"),
                Err(e) => assert!(e.contains(words) && e.starts_with("--x "), "{e}"),
            }
        }
        let file = parse("[[policy]]\norigins = [\"https://X.com\"]").unwrap_or_else(|e| panic!("{e}"));
        assert!(file.origin_rules().is_err_and(|e| e.contains("[[policy]] 1") && e.contains("lower case")));
        let file = parse("[[policy]]\norigins = []").unwrap_or_else(|e| panic!("{e}"));
        assert!(file.origin_rules().is_err_and(|e| e.contains("at least one")));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("10"), None, "a string needs its unit");
        assert_eq!(parse_duration("x s"), None);
    }

    #[test]
    fn origins() {
        for ok in ["http://localhost:8000", "https://course.example.edu", "null", "http://[::1]:9000"] {
            assert!(check_origin(ok).is_ok(), "{ok}");
        }
        for bad in ["localhost:8000", "ftp://x", "http://x/", "http://*.x", "https://X.com", "http://", "http://a@b"] {
            assert!(check_origin(bad).is_err(), "{bad}");
        }
    }
}
