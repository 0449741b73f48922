//! Every command's help (found by walking `botstore --help` and each group's own):
//! no Rust type names, no option that does not apply to the command, and no secret from
//! the environment, in help texts, usage lines and usage errors alike.

// Test code: helpers outside #[test] fns unwrap too; a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};

const SECRET: &str = "s3cret-xyz";

/// `botstore args`, with every secret-bearing variable set to [`SECRET`] (or holding it):
/// stdout and stderr together.
fn botstore(args: &[&str]) -> (Option<i32>, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_botstore"))
        .args(args)
        .env("BOTSTORE_TOKEN", SECRET)
        .env("BOTSTORE_BACKUP_PASSWORD", SECRET)
        .env(
            "BOTSTORE_REMOTE",
            format!("http://user:{SECRET}@127.0.0.1:9"),
        )
        .env("BOTSTORE_CA_CERT", format!("/tmp/{SECRET}.pem"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&o.stderr));
    (o.status.code(), text)
}

/// The subcommands a help text lists under `Commands:`.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect()
}

/// Every command path (`["token", "create"]`, ...) and its help. `bench` hands `--help`
/// to the benchmark binary, whose options are its own, and is left out.
fn every_help() -> Vec<(Vec<String>, String)> {
    let mut out = Vec::new();
    let mut todo: Vec<Vec<String>> = vec![vec![]];
    while let Some(path) = todo.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let (code, help) = botstore(&args);
        assert_eq!(code, Some(0), "botstore {args:?}: {help}");
        for c in subcommands(&help) {
            if c != "bench" {
                let mut p = path.clone();
                p.push(c);
                todo.push(p);
            }
        }
        out.push((path, help));
    }
    out
}

#[test]
fn no_help_shows_a_secret_or_a_type_name() {
    let helps = every_help();
    let names: Vec<String> = helps.iter().map(|(p, _)| p.join(" ")).collect();
    for must in [
        "",
        "serve",
        "stats",
        "token create",
        "backup create",
        "repair",
    ] {
        assert!(
            names.iter().any(|n| n == must),
            "{must:?} not found in {names:?}"
        );
    }
    for (path, help) in &helps {
        assert!(!help.contains(SECRET), "botstore {path:?} --help:\n{help}");
        for word in ["ServeConfig", "StatsArgs", "Option<", "PathBuf", "::"] {
            assert!(
                !help.contains(word),
                "botstore {path:?} --help shows {word}:\n{help}"
            );
        }
    }
}

#[test]
fn usage_errors_show_no_option_from_the_environment() {
    // A usage error prints a usage line; clap would list the options set from the
    // environment in it (`--token <TOKEN>`), as if they had been typed.
    for args in [
        &["put"][..],
        &["get", "a"],
        &["stream", "append"],
        &["token", "revoke"],
    ] {
        let (code, text) = botstore(args);
        assert_eq!(code, Some(2), "{args:?}: {text}");
        assert!(text.contains("Usage: botstore"), "{text}");
        for word in [SECRET, "--token", "--remote", "--ca-cert"] {
            assert!(!text.contains(word), "{args:?} shows {word}: {text}");
        }
    }
}

#[test]
fn serve_help_lists_only_what_applies_to_serve() {
    let (code, help) = botstore(&["serve", "--help"]);
    assert_eq!(code, Some(0), "{help}");
    for word in [
        "ServeConfig",
        "--remote",
        "--token",
        "--ca-cert",
        "--timeout <",
    ] {
        assert!(!help.contains(word), "serve --help shows {word}:\n{help}");
    }
    assert!(help.contains("listen, tls_cert"), "{help}");
    for flag in [
        "--listen",
        "--data",
        "--tls-cert",
        "--config",
        "--durability",
    ] {
        assert!(help.contains(flag), "serve --help lacks {flag}");
    }
    for cmd in [&["verify", "--help"][..], &["repair", "--help"]] {
        let (_, help) = botstore(cmd);
        assert!(!help.contains("--remote"), "{cmd:?}:\n{help}");
    }
    let (_, help) = botstore(&["token", "list", "--help"]);
    assert!(!help.contains("--durability"), "{help}");
}

#[test]
fn remote_options_on_local_commands_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    for (args, flag) in [
        (&["serve", "--remote", "http://127.0.0.1:9"][..], "--remote"),
        (&["--token", "x", "serve"], "--token"),
        (&["serve", "--ca-cert", "c.pem"], "--ca-cert"),
        (&["verify", "--timeout", "5s"], "--timeout"),
        (&["repair", "--remote", "http://127.0.0.1:9"], "--remote"),
        (
            &["token", "--durability", "relaxed", "list"],
            "--durability",
        ),
        (&["--cache-mib", "8", "token", "list"], "--cache-mib"),
        (&["token", "list", "--compression", "off"], "--compression"),
    ] {
        let mut full = vec!["--data", data];
        full.extend_from_slice(args);
        let (code, text) = botstore(&full);
        assert_eq!(code, Some(2), "{args:?}: {text}");
        assert!(
            text.contains(&format!("{flag} is ")) && text.contains("does not apply"),
            "{args:?}: {text}"
        );
    }
    assert!(
        !dir.path().join("data").exists(),
        "a refused command wrote nothing"
    );
    // From the environment they are ignored where they do not apply: verify works on
    // --data with BOTSTORE_REMOTE set.
    let (code, text) = botstore(&["--data", data, "verify"]);
    assert_eq!(code, Some(0), "{text}");
}
