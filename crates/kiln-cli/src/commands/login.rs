//! `kiln login` and `kiln logout`: credentials in containers' auth.json
//! (`$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`, else
//! `~/.config/containers/auth.json`), where podman and buildah keep them.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;

use crate::registry::{auth_environment, RegistryArgs};

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The registry, e.g. `ghcr.io` or `localhost:5000`.
    pub registry: String,
    /// The user name (asked for on a terminal when missing).
    #[arg(short, long)]
    pub username: Option<String>,
    /// The password (prefer --password-stdin: a flag shows in the process list).
    #[arg(short, long)]
    pub password: Option<String>,
    /// Read the password from standard input.
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub registry_flags: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry.
    pub registry: String,
}

fn normalize(registry: &str) -> String {
    let trimmed = registry
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    match trimmed {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        other => other.to_string(),
    }
}

pub fn login(args: LoginArgs) -> anyhow::Result<ExitCode> {
    let registry = normalize(&args.registry);
    let stdin = std::io::stdin();
    let username = match args.username {
        Some(name) => name,
        None if stdin.is_terminal() && !args.password_stdin => {
            eprint!("Username: ");
            std::io::stderr().flush()?;
            let mut line = String::new();
            stdin.lock().read_line(&mut line)?;
            line.trim().to_string()
        }
        None => bail!("kiln login needs --username (-u) when not run on a terminal"),
    };
    let password = match (args.password, args.password_stdin) {
        (Some(_), true) => bail!("--password and --password-stdin are mutually exclusive"),
        (Some(password), false) => password,
        (None, true) => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut stdin.lock(), &mut text)?;
            text.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) if stdin.is_terminal() => {
            rpassword::prompt_password("Password: ").context("failed to read the password")?
        }
        (None, false) => bail!("kiln login needs --password-stdin when not run on a terminal"),
    };
    if username.is_empty() || password.is_empty() {
        bail!("user name and password must not be empty");
    }
    let client = kiln_registry::Client::new(args.registry_flags.client_options()?)?;
    client
        .check_login(&registry, &username, &password)
        .with_context(|| format!("login to {registry} failed"))?;
    let file = auth_environment()
        .login_file()
        .context("cannot find where to keep credentials: set REGISTRY_AUTH_FILE or HOME")?;
    kiln_registry::store_login(&file, &registry, &username, &password)?;
    println!("Login Succeeded");
    Ok(ExitCode::SUCCESS)
}

pub fn logout(args: LogoutArgs) -> anyhow::Result<ExitCode> {
    let registry = normalize(&args.registry);
    let file = auth_environment()
        .login_file()
        .context("cannot find the credentials file: set REGISTRY_AUTH_FILE or HOME")?;
    if kiln_registry::remove_login(&file, &registry)? {
        println!("Removed login credentials for {registry}");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("not logged in to {registry}");
        Ok(ExitCode::FAILURE)
    }
}
