//! Running the built `anvert` against a harness server: one data directory, the server's
//! test CA, the password in `ANVERT_PASSWORD` (never argv), and `--json` documents parsed.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // each test binary uses a part

use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use serde_json::Value;

pub struct Run {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The stdout of a run that must have succeeded.
    pub fn ok(self, what: &str) -> String {
        assert_eq!(
            self.status,
            Some(0),
            "{what} failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self.stdout
    }

    /// The one JSON document on stdout.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// The CLI against one data directory.
pub struct Anvert {
    pub data: PathBuf,
    /// `--ca` (None: only the platform's roots, which do not trust the harness CA).
    pub ca: Option<PathBuf>,
    pub password: Option<String>,
}

impl Anvert {
    pub fn new(data: &Path, ca: &Path, password: &str) -> Self {
        Anvert {
            data: data.to_path_buf(),
            ca: Some(ca.to_path_buf()),
            password: Some(password.to_string()),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_anvert"));
        command.arg("--data-dir").arg(&self.data);
        if let Some(ca) = &self.ca {
            command.arg("--ca").arg(ca);
        }
        command
            .args(args)
            .env_remove("ANVERT_PASSWORD")
            .env_remove("ANVERT_LOG")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null());
        if let Some(p) = &self.password {
            command.env("ANVERT_PASSWORD", p);
        }
        command
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let Output {
            status,
            stdout,
            stderr,
        } = self.command(args).output().unwrap();
        Run {
            status: status.code(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    /// `anvert --json <args>`, which must succeed: its document.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let run = self.run(&all);
        let doc = run.json();
        assert_eq!(
            run.status,
            Some(0),
            "{args:?} failed:\n{}\n{}",
            run.stdout,
            run.stderr
        );
        doc
    }
}

/// A port nothing listens on: below the kernel's ephemeral range, so no other test's
/// `bind(…:0)` can take it, and given out once per process.
pub fn closed_port() -> u16 {
    anvert_tests::ports::free_ports(1)[0]
}
