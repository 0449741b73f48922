//! `botstore serve` that cannot start leaves nothing behind: a taken port fails before
//! the data folder or an admin token is made, and a second server on a folder another
//! one holds fails before it binds or writes anything, saying why. The first server is
//! not disturbed.

// Test code: helpers outside #[test] fns unwrap too; a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn botstore() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_botstore"));
    for v in ["BOTSTORE_DATA", "BOTSTORE_REMOTE", "BOTSTORE_TOKEN"] {
        c.env_remove(v);
    }
    c.env("NO_COLOR", "1").stdin(Stdio::null());
    c
}

/// `serve` that is expected to fail at once: its output (a hung server is killed after
/// 60 s and fails the test).
fn serve_fails(data: &Path, listen: &str) -> Output {
    let mut child = botstore()
        .arg("serve")
        .arg("--data")
        .arg(data)
        .args(["--listen", listen])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let o = child.wait_with_output().unwrap();
    panic!("serve did not fail: {}", String::from_utf8_lossy(&o.stderr));
}

/// Every file and folder under `dir`, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if p.is_dir() {
                todo.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_taken_port_fails_before_the_data_folder_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let o = serve_fails(&data, &addr);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "names the address: {stderr}"
    );
    assert!(stderr.contains("--listen"), "says what to do: {stderr}");
    assert!(
        !data.exists(),
        "the data folder was made: {:?}",
        tree(&data)
    );
    assert!(tree(dir.path()).is_empty(), "{:?}", tree(dir.path()));
}

/// A `botstore serve` on `data`, on a free port: the child and its address.
fn serve(data: &Path) -> (Child, String) {
    let mut child = botstore()
        .arg("serve")
        .arg("--data")
        .arg(data)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = common::listen_addr(&mut child);
    (child, addr)
}

/// `GET path` over HTTP/1.1: the status line and the body.
fn get(addr: &str, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.lines().next().unwrap_or("").to_owned();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

#[test]
fn a_second_server_on_a_held_folder_fails_before_binding_or_writing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut first, addr) = serve(&data);
    let token = std::fs::read_to_string(data.join("admin.token")).unwrap();
    let before = tree(&data);
    let stamp = |p: &str| std::fs::metadata(data.join(p)).unwrap().modified().unwrap();
    let tokens_before = stamp("tokens.json");

    // On the first server's own address: the folder is the reason given, not the port.
    let o = serve_fails(&data, &addr);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "data folder {} is in use by another botstore process",
            data.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("cannot listen"), "{stderr}");
    // On a free port: refused before binding it (the port stays free).
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let free_addr = free.local_addr().unwrap().to_string();
    drop(free);
    let o = serve_fails(&data, &free_addr);
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is in use"));
    TcpListener::bind(&free_addr).expect("the second server never held the port");

    // Nothing written: the same files, the same token file, the same admin token.
    assert_eq!(tree(&data), before);
    assert_eq!(stamp("tokens.json"), tokens_before);
    assert_eq!(
        std::fs::read_to_string(data.join("admin.token")).unwrap(),
        token
    );
    // The first server goes on serving.
    let (status, body) = get(&addr, "/healthz");
    assert!(status.starts_with("HTTP/1.1 200"), "{status} {body}");
    let (status, _) = get(&addr, "/");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let _ = first.kill();
    let _ = first.wait();
}
