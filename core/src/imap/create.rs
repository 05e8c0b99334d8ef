//! `CREATE` of new folders, subscribed at once: the Drafts, Sent or Trash an account lacks.
//! With CREATE-SPECIAL-USE (RFC 6154) the role goes with it, `CREATE "Drafts" (USE
//! (\Drafts))`, so other clients see it too; a server that refuses the attribute (`NO
//! [USEATTR]`, or any NO) is asked once more without it. Protocol only: which folders, under
//! which names, is the sync layer's business (`sync::roles`).

use super::{Completion, ImapSession, SpecialUse, session::quote};
use crate::error::{Error, Result};

impl ImapSession {
    /// Whether the server takes a role with CREATE (`CREATE-SPECIAL-USE`).
    pub fn has_create_special_use(&self) -> bool {
        self.capabilities().has("CREATE-SPECIAL-USE")
    }

    /// Creates each folder and subscribes to it, all in one flight (`CREATE`, then
    /// `SUBSCRIBE`, per folder), with its role where the server takes one. Returns, per
    /// folder in order, whether the CREATE succeeded (`Error::ServerNo`/`ServerBad` with the
    /// server's words if not; a SUBSCRIBE the server refuses is not an error: the folder
    /// exists). An error of the connection itself is the outer error.
    pub async fn create_folders(
        &mut self,
        folders: &[(String, Option<SpecialUse>)],
    ) -> Result<Vec<Result<()>>> {
        let with_use = self.has_create_special_use();
        let first = self.create_flight(folders, with_use).await?;
        if !with_use {
            return Ok(first);
        }
        // The ones refused with an attribute are asked again without.
        let retry: Vec<usize> = first
            .iter()
            .enumerate()
            .filter(|(i, r)| r.is_err() && folders[*i].1.is_some())
            .map(|(i, _)| i)
            .collect();
        if retry.is_empty() {
            return Ok(first);
        }
        let again: Vec<(String, Option<SpecialUse>)> = retry
            .iter()
            .map(|i| (folders[*i].0.clone(), None))
            .collect();
        let second = self.create_flight(&again, false).await?;
        let mut out = first;
        for (i, result) in retry.into_iter().zip(second) {
            out[i] = result;
        }
        Ok(out)
    }

    async fn create_flight(
        &mut self,
        folders: &[(String, Option<SpecialUse>)],
        with_use: bool,
    ) -> Result<Vec<Result<()>>> {
        if folders.is_empty() {
            return Ok(Vec::new());
        }
        let mut commands = Vec::with_capacity(folders.len() * 2);
        for (name, role) in folders {
            let mailbox = quote(name)?;
            let attribute = role.and_then(attribute).filter(|_| with_use);
            commands.push(match attribute {
                Some(a) => format!("CREATE {mailbox} (USE ({a}))"),
                None => format!("CREATE {mailbox}"),
            });
            commands.push(format!("SUBSCRIBE {mailbox}"));
        }
        let completions = self
            .exchange(&commands, commands.len(), |_, _| Ok(()))
            .await?;
        Ok(completions.chunks(2).map(created).collect())
    }
}

/// The CREATE's outcome, from the (CREATE, SUBSCRIBE) completions of one folder.
fn created(pair: &[Completion]) -> Result<()> {
    match pair.first() {
        Some(c) if c.ok => Ok(()),
        Some(c) if c.status == "BAD" => Err(Error::ServerBad {
            command: "CREATE".into(),
            text: c.text.clone(),
        }),
        Some(c) => Err(Error::ServerNo {
            command: "CREATE".into(),
            text: c.text.clone(),
        }),
        None => Err(Error::protocol("no answer to CREATE")),
    }
}

/// The RFC 6154 attribute of a role a folder can be created with.
fn attribute(role: SpecialUse) -> Option<&'static str> {
    Some(match role {
        SpecialUse::Sent => "\\Sent",
        SpecialUse::Drafts => "\\Drafts",
        SpecialUse::Trash => "\\Trash",
        SpecialUse::Junk => "\\Junk",
        SpecialUse::Archive => "\\Archive",
        SpecialUse::All => "\\All",
        SpecialUse::Flagged => "\\Flagged",
        SpecialUse::Inbox => return None,
    })
}
