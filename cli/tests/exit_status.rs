//! `anvert sync` against a scripted TLS server where one folder cannot be selected: the
//! report is printed whole, with the folder's error, and the command exits non-zero.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anvert_tests::scripted::{Reply, Script, ScriptedImap, ok};

/// Runs `anvert --data-dir <data> --ca <ca> <args>` with a password in the environment:
/// (exit code, stdout, stderr).
fn anvert(data: &Path, ca: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_anvert"))
        .arg("--data-dir")
        .arg(data)
        .arg("--ca")
        .arg(ca)
        .args(args)
        .env("ANVERT_PASSWORD", "pw")
        .env_remove("ANVERT_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_folder_fails_the_sync_command() {
    let script = Script {
        tls: true,
        ..Script::default()
    };
    let server = ScriptedImap::start(script, |command| {
        if command.starts_with("LIST") {
            ok("* LIST () \"/\" INBOX\r\n* LIST () \"/\" Broken\r\n")
        } else if command.starts_with("SELECT") && command.contains("Broken") {
            Reply::Raw(b"TAG NO [NONEXISTENT] Broken is gone\r\n".to_vec())
        } else if command.starts_with("SELECT") {
            ok("* 0 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 1] ok\r\n")
        } else {
            ok("")
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ca: PathBuf = server.pki.as_ref().unwrap().ca_path.clone();
    let port = server.addr.port().to_string();
    let add = [
        "account",
        "add",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--security",
        "tls",
        "--user",
        "alice",
    ];
    let args: Vec<String> = add.iter().map(|a| (*a).to_string()).collect();
    let (data2, ca2) = (data.clone(), ca.clone());
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        anvert(&data2, &ca2, &args)
    })
    .await
    .unwrap();
    assert_eq!(code, Some(0), "account add\n{stdout}\n{stderr}");

    let (code, stdout, stderr) =
        tokio::task::spawn_blocking(move || anvert(&data, &ca, &["sync", "--network", "metered"]))
            .await
            .unwrap();
    // The whole report, INBOX included, then the failure.
    assert!(
        stdout.lines().any(|l| l.starts_with("INBOX ")),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("error in Broken:"),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("wire bytes by purpose"), "{stdout}");
    assert_ne!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("1 folder(s) failed"), "{stderr}");
    assert!(server.count("SELECT") >= 2, "{:?}", server.commands());
}
