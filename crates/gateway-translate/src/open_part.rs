//! The one canonical part a stream decoder has open, for upstreams whose streams say
//! "more of this kind" rather than naming parts (Ollama, Cohere, Bedrock): the
//! decoder keys the open part by what it is upstream (`K`), and a delta of another
//! key closes it and opens the next index.

use gateway_protocol::{PartStart, StreamEvent};

/// The open part (its key and our index) and the next index to give.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpenPart<K> {
    open: Option<(K, usize)>,
    next_index: usize,
}

impl<K: Copy + PartialEq> OpenPart<K> {
    pub(crate) const fn new() -> Self {
        OpenPart {
            open: None,
            next_index: 0,
        }
    }

    /// The open part's key and index.
    pub(crate) fn current(&self) -> Option<(K, usize)> {
        self.open
    }

    /// Closes the open part, if any.
    pub(crate) fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some((_, index)) = self.open.take() {
            out.push(StreamEvent::PartStop { index });
        }
    }

    /// Closes the open part and opens `key` at the next index, announced as `part`.
    pub(crate) fn open(&mut self, key: K, part: PartStart, out: &mut Vec<StreamEvent>) -> usize {
        self.close(out);
        let index = self.next_index;
        self.next_index = self.next_index.saturating_add(1);
        out.push(StreamEvent::PartStart { index, part });
        self.open = Some((key, index));
        index
    }

    /// The index of the open part when it is `key`; else `key` opened, announced as
    /// what `part` gives.
    pub(crate) fn ensure(
        &mut self,
        key: K,
        part: impl FnOnce() -> PartStart,
        out: &mut Vec<StreamEvent>,
    ) -> usize {
        match self.open {
            Some((open, index)) if open == key => index,
            _ => self.open(key, part(), out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_closes_the_open_part_and_takes_the_next_index() {
        let mut parts = OpenPart::new();
        let mut out = Vec::new();
        assert_eq!(parts.ensure('a', || PartStart::Text, &mut out), 0);
        assert_eq!(parts.ensure('a', || PartStart::Text, &mut out), 0);
        assert_eq!(parts.ensure('b', || PartStart::Text, &mut out), 1);
        parts.close(&mut out);
        parts.close(&mut out);
        assert_eq!(parts.current(), None);
        assert_eq!(parts.ensure('a', || PartStart::Text, &mut out), 2);
        let shape: Vec<String> = out
            .iter()
            .map(|e| match e {
                StreamEvent::PartStart { index, .. } => format!("start {index}"),
                StreamEvent::PartStop { index } => format!("stop {index}"),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            shape,
            ["start 0", "stop 0", "start 1", "stop 1", "start 2"].map(String::from)
        );
    }
}
