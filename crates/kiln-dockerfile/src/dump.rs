//! BuildKit's parse dump and the corpus `ast.json` for a [`crate::Dockerfile`].
