//! A minimal binary that can serve as the builtin sandbox's init in tests:
//! it runs [`kiln_run::init_main`] when its first argument is
//! [`kiln_run::INIT_ARG`] and fails otherwise.

fn main() -> std::process::ExitCode {
    if std::env::args().nth(1).as_deref() == Some(kiln_run::INIT_ARG) {
        kiln_run::init_main();
    }
    std::process::ExitCode::from(2)
}
