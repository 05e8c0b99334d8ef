//! TEMPORARY until the wire work lands: `probe` and `fetch_sections_in`.

use std::time::Duration;

use super::{ImapSession, SectionData, SectionRequest};
use crate::{
    error::{Error, Result},
    net::Purpose,
};

impl ImapSession {
    pub async fn probe(&mut self, timeout: Duration) -> Result<()> {
        match tokio::time::timeout(timeout, self.inner.noop()).await {
            Ok(r) => r.map_err(|e| super::connect::map_err("NOOP", e)),
            Err(_) => Err(Error::Timeout { during: "NOOP" }),
        }
    }

    pub async fn fetch_sections_in(
        &mut self,
        folder: &str,
        purpose: Purpose,
        requests: &[SectionRequest],
    ) -> Result<Vec<SectionData>> {
        if self.selected().map(|(n, _)| n) != Some(folder) {
            self.select(folder, None).await?;
        }
        self.fetch_sections(purpose, requests).await
    }
}
