//! The `dovecot.conf` a private [`Dovecot`](crate::dovecot::Dovecot) runs with: listeners on
//! its free loopback ports, TLS from the test PKI, the passwd-file users, the extensions
//! [`DovecotOptions`] turns off, and the submission service and OAuth2 when asked for.

use std::path::Path;

use crate::{
    certs::TestPki,
    dovecot::{DovecotOptions, Ports, whoami},
};

pub(crate) fn render_config(
    root: &Path,
    pki: &TestPki,
    ports: Ports,
    options: &DovecotOptions,
    submission: Option<&crate::submission::SubmissionRuntime>,
    is_root: bool,
) -> String {
    let r = root.display();
    let mut caps = vec![
        "IMAP4rev1",
        "SASL-IR",
        "LOGIN-REFERRALS",
        "ID",
        "ENABLE",
        "IDLE",
        "SORT",
        "SORT=DISPLAY",
        "THREAD=REFERENCES",
        "THREAD=REFS",
        "THREAD=ORDEREDSUBJECT",
        "MULTIAPPEND",
        "URL-PARTIAL",
        "CATENATE",
        "UNSELECT",
        "CHILDREN",
        "NAMESPACE",
        "UIDPLUS",
        "LIST-EXTENDED",
        "I18NLEVEL=1",
        "ESEARCH",
        "ESORT",
        "SEARCHRES",
        "WITHIN",
        "CONTEXT=SEARCH",
        "LIST-STATUS",
        "BINARY",
        "MOVE",
        "STATUS=SIZE",
        "SAVEDATE",
        "LITERAL+",
        "NOTIFY",
        "SPECIAL-USE",
    ];
    if options.condstore {
        caps.push("CONDSTORE");
    }
    if options.qresync {
        caps.push("QRESYNC");
    }
    if options.compress {
        // imap_capability replaces the whole list, so the imap_zlib plugin's own entry too.
        caps.push("COMPRESS=DEFLATE");
    }
    if options.preview {
        caps.extend(["SNIPPET=FUZZY", "PREVIEW=FUZZY", "PREVIEW"]);
    }
    if !options.move_command {
        caps.retain(|c| *c != "MOVE");
    }
    if !options.uidplus {
        caps.retain(|c| *c != "UIDPLUS");
    }
    if !options.special_use {
        caps.retain(|c| *c != "SPECIAL-USE");
    }
    if options.submission.is_some_and(|s| !s.catenate) {
        caps.retain(|c| *c != "CATENATE");
    }
    // Dovecot adds URLAUTH only to its default capability list; an explicit one names it.
    if options.submission.is_some_and(|s| s.urlauth) {
        caps.extend(["URLAUTH", "URLAUTH=BINARY"]);
    }
    if options.oauth.as_ref().is_some_and(|o| !o.sasl_ir) {
        caps.retain(|c| *c != "SASL-IR");
    }
    let caps = caps.join(" ");
    // The oauth2 passdb comes first and only sees OAuth2 mechanisms; passwords still go to
    // the passwd-file.
    let (auth_mechanisms, oauth_passdb) = match &options.oauth {
        None => ("plain login".to_string(), String::new()),
        Some(oauth) => (
            format!("plain login {}", oauth.mechanisms.join(" ")),
            format!(
                // No delay after a failure, and no growing per-IP penalty (4 s, 8 s, 15 s)
                // before the next attempt: the auth process runs unprivileged and cannot reach
                // anvil's penalty socket at mode 0, which turns the penalty off.
                "auth_failure_delay = 0\n\
                 service anvil {{\n  unix_listener anvil-auth-penalty {{\n    mode = 0\n  }}\n}}\n\
                 passdb {{\n  driver = oauth2\n  mechanisms = {}\n  args = {r}/oauth2.conf.ext\n}}\n",
                oauth.mechanisms.join(" ")
            ),
        ),
    };
    let imap_plugins = if options.compress {
        "$mail_plugins imap_zlib"
    } else {
        "$mail_plugins"
    };
    // The mailboxes every user has, with their SPECIAL-USE attribute unless switched off.
    let role_mailboxes: String = if options.role_mailboxes {
        ["Drafts", "Sent", "Trash", "Junk", "Archive"]
            .iter()
            .map(|name| {
                let special_use = if options.special_use {
                    format!("    special_use = \\{name}\n")
                } else {
                    String::new()
                };
                format!("  mailbox {name} {{\n{special_use}    auto = subscribe\n  }}\n")
            })
            .collect()
    } else {
        String::new()
    };
    // The sending side: protocols, URLAUTH, the relay and the listeners (crate::submission).
    let submission_passdb = match (options.submission, submission) {
        (Some(opts), Some(runtime)) => runtime.first_passdb(&opts, root),
        _ => String::new(),
    };
    let (protocols, submission_config, imap_extra) = match (options.submission, submission) {
        (Some(opts), Some(runtime)) => (
            "imap pop3 submission",
            runtime.config(&opts, ports.imaps),
            if opts.urlauth {
                ""
            } else {
                "  imap_urlauth_host =\n"
            },
        ),
        _ => ("imap pop3", String::new(), ""),
    };
    let users_line = if is_root {
        String::new()
    } else {
        let me = whoami();
        format!("default_internal_user = {me}\ndefault_login_user = {me}\n")
    };
    format!(
        r#"# Private Dovecot for Anvert tests. Generated; do not edit.
base_dir = {r}/run
state_dir = {r}/state
instance_name = anvert-test-{imaps}
log_path = {r}/dovecot.log
info_log_path = {r}/dovecot.log
debug_log_path = {r}/dovecot.log
{users_line}protocols = {protocols}
listen = 127.0.0.1, 127.0.0.2
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = {auth_mechanisms}
mail_location = maildir:~/Maildir
mail_max_userip_connections = 200
first_valid_uid = 1
first_valid_gid = 1
pop3_uidl_format = %08Xu%08Xv
imap_capability = {caps}
{submission_passdb}{oauth_passdb}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {r}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {r}/users
}}
namespace inbox {{
  inbox = yes
  separator = /
{role_mailboxes}}}
service imap-login {{
  # One long-lived login process (Dovecot's "high-performance mode"), so TLS session tickets
  # survive between connections and clients can resume sessions.
  service_count = 0
  inet_listener imap {{
    port = {imap}
  }}
  inet_listener imaps {{
    port = {imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = {pop3s}
    ssl = yes
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
protocol imap {{
  mail_plugins = {imap_plugins}
  imap_idle_notify_interval = 2 mins
{imap_extra}}}
{submission_config}# Where inotify is unavailable (some sandboxes) IDLE falls back to polling: poll each second,
# so a change made by another session wakes an IDLE client promptly.
mailbox_idle_check_interval = 1 secs
"#,
        cert = pki.cert_path.display(),
        key = pki.key_path.display(),
        imap = ports.imap,
        imaps = ports.imaps,
        pop3 = ports.pop3,
        pop3s = ports.pop3s,
    )
}
