//! `patchbay`: the gateway binary (in progress).

fn main() {}
