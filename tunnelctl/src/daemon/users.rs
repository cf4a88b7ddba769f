//! TIC users (`user add|remove|list`). Users touch no map or route: each
//! operation is one store transaction and nothing else.

use super::{engine::Engine, store, validate};
use crate::{
    api::{UserSpec, UserView},
    error::{ApiResult, Error},
};

impl Engine {
    pub fn add_user(&mut self, u: &UserSpec) -> ApiResult<()> {
        validate::user(u).map_err(Error::invalid)?;
        let tx = self.store.transaction()?;
        let row = store::UserRow {
            name: u.name.clone(),
            full_name: u.full_name.clone(),
            password_md5: u.password_md5.clone(),
        };
        if !store::insert_user(&tx, &row)? {
            return Err(Error::Conflict(format!("user {} already exists", u.name)));
        }
        tx.commit()?;
        Ok(())
    }

    /// Refused while the user owns tunnels: a tunnel without its owner
    /// would vanish from the user's TIC list unannounced.
    pub fn remove_user(&mut self, name: &str) -> ApiResult<()> {
        let tx = self.store.transaction()?;
        let owned = store::owned_tunnels(&tx, name)?;
        if !owned.is_empty() {
            let ids: Vec<String> = owned.iter().map(u32::to_string).collect();
            return Err(Error::Conflict(format!(
                "user {name} owns tunnel{} {}: remove them or give them another owner first \
                 (tunnelctl tunnel set ID --owner USER | --no-owner)",
                if ids.len() == 1 { "" } else { "s" },
                ids.join(", ")
            )));
        }
        if !store::delete_user(&tx, name)? {
            return Err(Error::NotFound(format!("no user {name}")));
        }
        tx.commit()?;
        Ok(())
    }

    pub fn list_users(&self) -> ApiResult<Vec<UserView>> {
        Ok(store::users(self.store.conn())?
            .into_iter()
            .map(|(u, tunnels)| UserView {
                name: u.name,
                full_name: u.full_name,
                tunnels,
            })
            .collect())
    }
}
