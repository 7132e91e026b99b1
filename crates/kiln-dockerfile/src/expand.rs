//! Shell-word expansion as BuildKit's lexer does it.
