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

/// The ids of names, as the database has them.
#[derive(Default)]
pub(super) struct Names {
    // SipHash (the default): model names are chosen by callers.
    ids: HashMap<Box<str>, i64>,
    /// Names the open transaction added, forgotten if it does not commit.
    fresh: Vec<Box<str>>,
}

impl Names {
    /// The id of `name`, added to `usage_names` (in `conn`'s open transaction) if new.
    pub(super) fn id(&mut self, conn: &Connection, name: &str) -> rusqlite::Result<i64> {
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
    }
}
