//! Conversion tests that go through the parser: a hand-written file, and the
//! shared corpus of real-world Dockerfiles (skipped when it is absent).

use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::parse;

fn stages_of(text: &str) -> Result<Stages, InstructionError> {
    to_stages(&parse(text.as_bytes()).unwrap())
}

#[test]
fn converts_a_parsed_file() {
    let text = "\
ARG B=alpine
FROM --platform=$BUILDPLATFORM $B AS Build
RUN --mount=type=cache,target=/c make
ONBUILD COPY <<EOF /x
hi
