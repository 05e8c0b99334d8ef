//! Many users on one server, for tests and benchmarks of many accounts in one engine: a
//! Dovecot whose users `user0`, `user1`, … each have a generated INBOX (written side by side,
//! the generator being the slow part), and those users added to an engine as IMAP accounts.

use std::net::SocketAddr;

use anvert_core::{
    engine::{AccountConfig, Engine, Protocol},
    net::{Credential, Security},
    store::AccountId,
};

use crate::{
    client::endpoint,
    dovecot::{Dovecot, DovecotOptions},
    generator::{self, GenConfig, MessageTruth},
};

/// The name of user `i`.
pub fn user(i: usize) -> String {
    format!("user{i}")
}

/// The password of user `i`.
pub fn password(i: usize) -> String {
    format!("user{i}-secret-pw")
}

/// A Dovecot (default options) with one user per config, user `i`'s INBOX generated from
/// `inboxes[i]`; returns each INBOX's ground truth too.
pub fn dovecot_with_inboxes(inboxes: &[GenConfig]) -> (Dovecot, Vec<Vec<MessageTruth>>) {
    let server = Dovecot::start_with(DovecotOptions {
        users: (0..inboxes.len()).map(|i| (user(i), password(i))).collect(),
        ..DovecotOptions::default()
    });
    let truths = std::thread::scope(|s| {
        let writers: Vec<_> = inboxes
            .iter()
            .enumerate()
            .map(|(i, config)| {
                let maildir = server.maildir(&user(i));
                s.spawn(move || {
                    generator::write_maildir(&maildir, None, generator::generate(config)).unwrap()
                })
            })
            .collect();
        writers
            .into_iter()
            .map(|w| w.join().expect("a mailbox writer panicked"))
            .collect()
    });
    // Once, after every writer: a `chown -R` beside another mailbox's writes would find files
    // renamed under it.
    server.fix_ownership();
    (server, truths)
}

/// Adds users `0..n` of the server at `addr` (IMAPS) to `engine`, in that order.
pub async fn add_accounts(engine: &Engine, addr: SocketAddr, n: usize) -> Vec<AccountId> {
    let mut accounts = Vec::with_capacity(n);
    for i in 0..n {
        let id = engine
            .add_account(AccountConfig {
                name: user(i),
                protocol: Protocol::Imap,
                endpoint: endpoint(addr, Security::ImplicitTls),
                credential: Credential::password(user(i), password(i)),
            })
            .await
            .unwrap();
        accounts.push(id);
    }
    accounts
}
