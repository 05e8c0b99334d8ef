//! The app's say over folder roles: which folder is the Drafts, Sent, Trash, Junk or Archive
//! when the server's SPECIAL-USE and the well-known names (`sync::roles`) get it wrong or find
//! none. Kept in the store (migration 0009) and applied over every later LIST; the listener
//! hears `FoldersChanged`. It never talks to a server.

use super::{Engine, events};
use crate::{
    error::Result,
    store::{FolderId, Role},
    sync::SyncEvent,
};

impl Engine {
    /// Sets a folder's role for good: `Some(role)` makes it the account's folder for that
    /// role (deletions then go to the Trash set here, drafts to the Drafts set here; no
    /// other folder keeps the role); `None` makes it a folder without a role. Later syncs
    /// keep it; [`Engine::reset_folder_role`] undoes it. The inbox role and INBOX itself are
    /// refused (`Error::Config`), as is a role for a folder that cannot be selected.
    pub async fn set_folder_role(&self, folder: FolderId, role: Option<Role>) -> Result<()> {
        let account = self.store.set_folder_role(folder, role).await?;
        events(&self.listener()).emit(SyncEvent::FoldersChanged { account });
        Ok(())
    }

    /// Gives a folder back the role its LIST entry gives (SPECIAL-USE or a well-known name).
    pub async fn reset_folder_role(&self, folder: FolderId) -> Result<()> {
        let account = self.store.reset_folder_role(folder).await?;
        events(&self.listener()).emit(SyncEvent::FoldersChanged { account });
        Ok(())
    }
}
