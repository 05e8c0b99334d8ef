//! Read-only work on a folder: EXAMINE (never SELECT, which would reset `\Recent` and open the
//! folder for writing) and body sections fetched in it, the EXAMINE pipelined with the first
//! FETCH so that opening a message in another folder costs one round trip. A failed EXAMINE
//! leaves no folder selected, so the FETCH behind it fails too and never reads another
//! folder; the EXAMINE's error is returned. The folder is recorded as read-only: anything that
//! writes re-SELECTs it (`ensure_selected`). Nothing here sends a deferred ENABLE.

use async_imap::imap_proto::Response;

use super::{
    ImapSession, SectionData, SectionRequest, SelectedFolder,
    body::{FETCH_DEPTH, fetch_commands},
    session::{Access, SelectCollector, check, quote},
};
use crate::{
    error::{Error, Result},
    net::Purpose,
};

impl ImapSession {
    /// Fetches body sections of messages in `folder` (as [`fetch_sections`]
    /// (Self::fetch_sections) does in the selected folder). When `folder` is the folder
    /// selected now (by SELECT or EXAMINE), that is the FETCH alone: one round trip. Else
    /// `EXAMINE folder` and the FETCH go out in one flight, also one round trip.
    ///
    /// `uid_validity` is what the caller's UIDs belong to: when the folder reports another
    /// UIDVALIDITY, the UIDs name other messages, and nothing is returned but
    /// `Error::FolderChanged`. A failed EXAMINE returns its own error, with no folder
    /// selected afterwards. Usable per chunk of a download: the first chunk pays the EXAMINE,
    /// later ones find the folder selected.
    pub async fn fetch_sections_in(
        &mut self,
        folder: &str,
        uid_validity: Option<u32>,
        purpose: Purpose,
        requests: &[SectionRequest],
    ) -> Result<Vec<SectionData>> {
        let (mut expected, fetches) = fetch_commands(requests)?;
        let examine = match self.current(folder) {
            Some(sel) => {
                if sel.uid_validity != uid_validity {
                    return Err(Error::FolderChanged);
                }
                None
            }
            None => Some(self.start_examine(folder)?),
        };
        let lead = usize::from(examine.is_some());
        let mut commands = Vec::with_capacity(lead + fetches.len());
        commands.extend(examine);
        commands.extend(fetches);
        let depth = lead + (commands.len() - lead).min(FETCH_DEPTH);
        let mut sel = SelectCollector::default();
        self.meter().set_purpose(purpose);
        let completions = self
            .exchange_read_only(&commands, depth, |index, response| {
                match response {
                    _ if index < lead => sel.on_response(response),
                    // Recorded in `expected`; the first refusal is reported below.
                    Response::Fetch(_, attrs) => {
                        let _ = expected.accept(attrs);
                    }
                    _ => {}
                }
                Ok(())
            })
            .await;
        self.meter().set_purpose(Purpose::SyncMetadata);
        let completions = completions?;
        if lead == 1 {
            self.finish_examine(folder, uid_validity, completions.get(..1), sel)?;
        }
        if let Some(e) = expected.first_refusal.take() {
            return Err(e);
        }
        check(completions.get(lead..).unwrap_or_default(), "UID FETCH")?;
        Ok(expected.into_data())
    }

    /// Makes `folder` the folder selected now, read-only (EXAMINE) unless it is selected
    /// already (read-write or not), and returns what its SELECT or EXAMINE reported. Then
    /// `fetch_sections` (or `fetch_sections_in`) reads it one FETCH at a time, as a chunked
    /// download does. `Error::FolderChanged` when its UIDVALIDITY is not `uid_validity`.
    pub async fn ensure_examined(
        &mut self,
        folder: &str,
        uid_validity: Option<u32>,
    ) -> Result<SelectedFolder> {
        if let Some(sel) = self.current(folder) {
            return if sel.uid_validity == uid_validity {
                Ok(sel.clone())
            } else {
                Err(Error::FolderChanged)
            };
        }
        let command = self.start_examine(folder)?;
        let mut sel = SelectCollector::default();
        let completions = self
            .exchange_read_only(&[command], 1, |_, response| {
                sel.on_response(response);
                Ok(())
            })
            .await?;
        self.finish_examine(folder, uid_validity, Some(&completions), sel)
    }

    /// The UIDVALIDITY of `folder` if it is the folder selected now.
    pub fn selected_uid_validity(&self, folder: &str) -> Option<u32> {
        self.current(folder).and_then(|s| s.uid_validity)
    }

    /// What the folder selected now reported, if it is `folder`, read-write or read-only.
    pub(super) fn current(&self, folder: &str) -> Option<&SelectedFolder> {
        match &self.selected {
            Some((name, sel, _)) if name == folder => Some(sel),
            _ => None,
        }
    }

    /// The EXAMINE command; the selection is cleared (an EXAMINE that fails leaves none), and
    /// a pending ENABLE now has to wait until the folder is left (RFC 5161).
    pub(super) fn start_examine(&mut self, folder: &str) -> Result<String> {
        let command = format!("EXAMINE {}", quote(folder)?);
        self.selected = None;
        if self.enable_pending {
            self.examined_before_enable = true;
        }
        Ok(command)
    }

    /// Records the EXAMINE's outcome: the folder read-only, or nothing selected.
    pub(super) fn finish_examine(
        &mut self,
        folder: &str,
        uid_validity: Option<u32>,
        completion: Option<&[super::Completion]>,
        sel: SelectCollector,
    ) -> Result<SelectedFolder> {
        if let Err(e) = check(completion.unwrap_or_default(), "EXAMINE") {
            // Nothing is selected: ENABLE needs no UNSELECT before it any more.
            self.examined_before_enable = false;
            return Err(e);
        }
        let examined = sel.finish()?;
        self.selected = Some((folder.to_string(), examined.clone(), Access::ReadOnly));
        if examined.uid_validity != uid_validity {
            return Err(Error::FolderChanged);
        }
        Ok(examined)
    }
}
