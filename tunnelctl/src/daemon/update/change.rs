//! An update request against the running PoP: the tunnel read from the
//! store, the decision, and the change made through the same engine path
//! as `tunnel set --remote` (one transaction: store and maps together; a
//! remote another tunnel on the same PoP address already has is refused
//! there and changes nothing). The caller holds the engine.

use std::time::Instant;

use tracing::{debug, info, warn};

use super::{
    answer::Answer,
    decide::{decide, Decision, Facts},
    limit::Limiter,
    request::Update,
};
use crate::{api::TunnelChanges, daemon::engine::Engine, error::Error};

pub fn answer(e: &mut Engine, limiter: &mut Limiter, u: &Update, now: Instant) -> Answer {
    let t = match e.store.tunnel(u.tunnel) {
        Ok(t) => t,
        Err(err) => {
            warn!(tunnel = u.tunnel, "update: reading the store: {err:#}");
            return Answer::Internal;
        }
    };
    let facts = t.as_ref().map(|t| Facts {
        kind: t.kind,
        owner: t.owner.as_deref(),
        key: t.update_key.as_deref(),
        remote: t.remote,
    });
    if let Decision::Answer(a) = decide(u, facts.as_ref(), limiter, now) {
        // Not logged above debug: anyone can send these.
        debug!(tunnel = u.tunnel, user = %u.user, ip = %u.ip, answer = a.body().trim(), "update refused or unchanged");
        return a;
    }
    let from = t.and_then(|t| t.remote);
    let changes = TunnelChanges {
        remote: Some(u.ip),
        ..Default::default()
    };
    match e.set_tunnel(u.tunnel, &changes) {
        Ok(_) => {
            limiter.changed(u.tunnel, now);
            info!(
                tunnel = u.tunnel,
                user = %u.user,
                from = %from.map_or_else(|| "none".into(), |r| r.to_string()),
                to = %u.ip,
                source = if u.explicit { "myip" } else { "client address" },
                "remote updated over /nic/update"
            );
            Answer::Good(u.ip)
        }
        // Taken by another tunnel on the same PoP address, or refused by
        // the same checks as `tunnel set`: nothing changed.
        Err(err @ (Error::Conflict(_) | Error::Invalid(_))) => {
            info!(tunnel = u.tunnel, user = %u.user, ip = %u.ip, "update refused: {err}");
            Answer::Badip
        }
        Err(err) => {
            warn!(tunnel = u.tunnel, ip = %u.ip, "update failed, nothing changed: {err}");
            Answer::Internal
        }
    }
}
