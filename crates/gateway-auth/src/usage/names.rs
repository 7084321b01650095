//! The writer's memory of `usage_names`: the id of each name a request row refers to
//! (key, project, models, provider, API shapes, error kind), so a row binds integers
//! and a name costs a database round trip only the first time the writer meets it.
//!
//! Names are never deleted, so an id once read stays right. Names added by a batch's
//! transaction are remembered as fresh until it commits: a rolled-back batch takes its
//! names with it, and the writer forgets them too.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension};

/// Past this many names the memory is cleared (they stay in the database): model
/// names are the caller's choice, and must not grow the writer without bound.
const MAX_REMEMBERED: usize = 100_000;

/// Slots of the front cache (a power of two).
const FRONT_SLOTS: usize = 1024;

/// The ids of names, as the database has them.
pub(super) struct Names {
    /// A direct-mapped cache in front of `ids`, under a hash a quarter the cost of
    /// SipHash. Whoever chooses names can make them collide in it, which costs them
    /// the slower lookup in `ids`, nothing more.
    front: Vec<Option<(Box<str>, i64)>>,
    // SipHash (the default): model names are chosen by callers.
    ids: HashMap<Box<str>, i64>,
    /// Names the open transaction added, forgotten if it does not commit.
    fresh: Vec<Box<str>>,
}

impl Default for Names {
    fn default() -> Self {
        Names {
            front: vec![None; FRONT_SLOTS],
            ids: HashMap::new(),
            fresh: Vec::new(),
        }
    }
}

/// A quick hash of `name` for the front cache: a multiply-rotate over its 8-byte words.
fn front_slot(name: &str) -> usize {
    let mut h = name.len() as u64;
    let mut words = name.as_bytes().chunks_exact(8);
    for w in &mut words {
        let w = u64::from_le_bytes(w.try_into().unwrap_or_default());
        h = (h ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
    }
    let mut tail = [0u8; 8];
    let rest = words.remainder();
    tail[..rest.len()].copy_from_slice(rest);
    h = (h ^ u64::from_le_bytes(tail)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> 54) as usize & (FRONT_SLOTS - 1)
}

impl Names {
    /// The id of `name`, added to `usage_names` (in `conn`'s open transaction) if new.
    pub(super) fn id(&mut self, conn: &Connection, name: &str) -> rusqlite::Result<i64> {
        let slot = front_slot(name);
        if let Some((cached, id)) = &self.front[slot]
            && **cached == *name
        {
            return Ok(*id);
        }
        let id = self.id_behind(conn, name)?;
        self.front[slot] = Some((name.into(), id));
        Ok(id)
    }

    /// `id` past the front cache.
    fn id_behind(&mut self, conn: &Connection, name: &str) -> rusqlite::Result<i64> {
        if let Some(&id) = self.ids.get(name) {
            return Ok(id);
        }
        let found = conn
            .prepare_cached("SELECT id FROM usage_names WHERE name = ?1")?
            .query_row([name], |r| r.get(0))
            .optional()?;
        let id = match found {
            Some(id) => id,
            None => {
                conn.prepare_cached("INSERT INTO usage_names (name) VALUES (?1)")?
                    .execute([name])?;
                conn.last_insert_rowid()
            }
        };
        if self.ids.len() >= MAX_REMEMBERED {
            self.ids.clear();
            self.fresh.clear();
        }
        self.ids.insert(name.into(), id);
        self.fresh.push(name.into());
        Ok(id)
    }

    /// The id of `name` when there is one.
    pub(super) fn id_of(
        &mut self,
        conn: &Connection,
        name: Option<&str>,
    ) -> rusqlite::Result<Option<i64>> {
        name.map(|n| self.id(conn, n)).transpose()
    }

    /// The transaction that added the fresh names committed: they are for good.
    pub(super) fn committed(&mut self) {
        self.fresh.clear();
    }

    /// The transaction that added the fresh names rolled back: they are gone.
    pub(super) fn rolled_back(&mut self) {
        for name in self.fresh.drain(..) {
            self.ids.remove(&name);
        }
        self.front.fill(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_share_a_front_slot_keep_their_own_ids() {
        let mut conn = crate::migrate::open_in_memory().unwrap();
        let tx = conn.transaction().unwrap();
        let mut names = Names::default();
        // Five thousand names in 1,024 slots: most slots are shared.
        let all: Vec<String> = (0..5_000).map(|i| format!("model-{i}")).collect();
        let first: Vec<i64> = all.iter().map(|n| names.id(&tx, n).unwrap()).collect();
        names.committed();
        for (name, id) in all.iter().zip(&first).rev() {
            assert_eq!(names.id(&tx, name).unwrap(), *id, "{name}");
            let stored: i64 = tx
                .query_row("SELECT id FROM usage_names WHERE name = ?1", [name], |r| {
                    r.get(0)
                })
                .unwrap();
            assert_eq!(stored, *id, "{name}");
        }
        let distinct: std::collections::HashSet<_> = first.iter().collect();
        assert_eq!(distinct.len(), all.len());
    }
}
