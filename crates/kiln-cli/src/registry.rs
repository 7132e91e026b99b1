//! Registry flags shared by the commands that talk to registries, and the
//! client options they make (credentials found where Docker, podman and
//! buildah users already keep them).

use std::path::PathBuf;

use clap::Args;
use kiln_registry::{AuthEnvironment, ClientOptions};

/// `--tls-verify`, `--cert-dir`, `--creds`.
#[derive(Debug, Args, Clone)]
pub struct RegistryArgs {
    /// Verify registry TLS certificates (false also allows plain http).
    #[arg(long, value_name = "BOOL", default_value = "true", num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub tls_verify: bool,
    /// A directory of extra CA certificates (*.crt) to trust.
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// A registry (HOST[:PORT]) to reach over https without verification, or plain http (repeatable).
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
    /// Registry credentials, USER:PASSWORD (otherwise from kiln login, auth.json or Docker's config.json).
    #[arg(long, value_name = "USER:PASS")]
    pub creds: Option<String>,
}

/// Reads the environment the credential lookup needs.
pub fn auth_environment() -> AuthEnvironment {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    };
    AuthEnvironment {
        registry_auth_file: var("REGISTRY_AUTH_FILE"),
        xdg_runtime_dir: var("XDG_RUNTIME_DIR"),
        docker_config_dir: var("DOCKER_CONFIG"),
        home: var("HOME"),
    }
}

impl RegistryArgs {
    /// The client options these flags and the environment give.
    pub fn client_options(&self) -> anyhow::Result<ClientOptions> {
        let explicit = self.creds.as_deref().map(kiln_registry::parse_creds);
        let mut certs_d = vec![
            PathBuf::from("/etc/containers/certs.d"),
            PathBuf::from("/etc/docker/certs.d"),
        ];
        if let Some(home) = std::env::var_os("HOME") {
            certs_d.insert(0, PathBuf::from(home).join(".config/containers/certs.d"));
        }
        Ok(ClientOptions {
            tls_verify: self.tls_verify,
            cert_dir: self.cert_dir.clone(),
            certs_d,
            insecure: self.insecure_registries.clone(),
            credentials: auth_environment().credentials(explicit),
            ..ClientOptions::default()
        })
    }
}
