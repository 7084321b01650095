//! Stored responses on every backend: a row round-trips whole, only its key (or,
//! shared by project, its project) sees or deletes it, and a purge removes exactly
//! the rows older than its cut-off.

use gateway_auth::{Owner, ResponseRow, Share};

use crate::backends::Backend;

fn row(id: &str, key: &str, project: Option<&str>, created_ms: i64) -> ResponseRow {
    ResponseRow {
        id: id.to_owned(),
        key_id: key.to_owned(),
        project_id: project.map(str::to_owned),
        created_ms,
        model: "gpt-5-mock".to_owned(),
        status: "completed".to_owned(),
        input_items: Some(r#"[{"role":"user","content":"hi"}]"#.to_owned()),
        turns: Some(r#"{"v":1,"system":[],"messages":[]}"#.to_owned()),
        response: Some(r#"{"id":"x","object":"response"}"#.to_owned()),
        input_tokens: 12,
        output_tokens: 34,
    }
}

fn owner<'a>(key_id: &'a str, project_id: Option<&'a str>) -> Owner<'a> {
    Owner { key_id, project_id }
}

#[test]
fn a_response_round_trips_and_only_its_key_sees_it() {
    for b in Backend::all() {
        let (store, _keep) = b.responses(Share::Key);
        let made = row("resp_a", "k1", Some("p1"), 1_000);
        store.put(&made).unwrap();
        assert_eq!(
            store.get("resp_a", owner("k1", Some("p1"))).unwrap(),
            Some(made.clone())
        );
        assert_eq!(
            store.get("resp_a", owner("k2", Some("p1"))).unwrap(),
            None,
            "same project, other key"
        );
        assert_eq!(store.get("resp_b", owner("k1", Some("p1"))).unwrap(), None);
        assert_eq!(
            store.delete("resp_a", owner("k2", Some("p1"))).unwrap(),
            None,
            "not another key's to delete"
        );
        assert!(store.get("resp_a", owner("k1", None)).unwrap().is_some());
        let again = ResponseRow {
            status: "incomplete".to_owned(),
            ..row("resp_a", "k1", Some("p1"), 1_000)
        };
        store.put(&again).unwrap();
        assert_eq!(
            store.get("resp_a", owner("k1", None)).unwrap(),
            Some(again),
            "written again, replaced"
        );
        assert_eq!(
            store
                .delete("resp_a", owner("k1", None))
                .unwrap()
                .map(|r| r.id),
            Some("resp_a".to_owned())
        );
        assert_eq!(store.get("resp_a", owner("k1", None)).unwrap(), None);
        assert_eq!(store.delete("resp_a", owner("k1", None)).unwrap(), None);
    }
}

#[test]
fn shared_by_project_every_key_of_the_project_sees_it() {
    for b in Backend::all() {
        let (store, _keep) = b.responses(Share::Project);
        store.put(&row("resp_p", "k1", Some("p1"), 1_000)).unwrap();
        store.put(&row("resp_n", "k3", None, 1_000)).unwrap();
        assert!(
            store
                .get("resp_p", owner("k2", Some("p1")))
                .unwrap()
                .is_some()
        );
        assert!(
            store
                .get("resp_p", owner("k2", Some("p2")))
                .unwrap()
                .is_none()
        );
        assert!(store.get("resp_p", owner("k2", None)).unwrap().is_none());
        assert!(
            store.get("resp_n", owner("k4", None)).unwrap().is_none(),
            "no project, no sharing"
        );
        assert!(
            store
                .delete("resp_p", owner("k2", Some("p1")))
                .unwrap()
                .is_some()
        );
    }
}

#[test]
fn a_purge_removes_the_rows_older_than_its_cut_off() {
    for b in Backend::all() {
        let (store, _keep) = b.responses(Share::Key);
        for (id, at) in [("resp_1", 100), ("resp_2", 200), ("resp_3", 300)] {
            store.put(&row(id, "k", None, at)).unwrap();
        }
        assert_eq!(store.purge(200).unwrap(), 1);
        assert_eq!(store.purge(200).unwrap(), 0);
        let me = owner("k", None);
        assert!(store.get("resp_1", me).unwrap().is_none());
        assert!(store.get("resp_2", me).unwrap().is_some());
        assert!(store.get("resp_3", me).unwrap().is_some());
    }
}
