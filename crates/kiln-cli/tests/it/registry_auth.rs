//! Registry credentials end to end against a `docker-registry` behind
//! htpasswd basic auth: a clear 401 without them, `kiln login`/`logout`,
//! Docker's `config.json`, `--creds`, and the password never written out.

use kiln_testutil::{assert_clean_failure, Kiln, Output, RegistryOptions, TestRegistry};

use crate::common::s;
use crate::registry_support::{
    assert_not_in_output, assert_not_in_tree, base64, build_small, isolated, pushed_digest,
    run_stdin,
};

const USER: &str = "kilnuser";
const PASSWORD: &str = "Pa55-w0rd-never-shown-7f3a";

fn protected() -> Option<TestRegistry> {
    TestRegistry::start(RegistryOptions {
        user: Some((USER.to_owned(), PASSWORD.to_owned())),
        tls: false,
    })
}

/// Every output of the test, checked for the password at the end.
#[derive(Default)]
struct Seen(Vec<Output>);

impl Seen {
    fn keep(&mut self, output: Output) -> &Output {
        assert_not_in_output(&output, PASSWORD);
        self.0.push(output);
        self.0.last().expect("just pushed")
    }
}

/// Asserts a clean failure that names the registry and says what was refused.
fn assert_unauthorized(output: &Output, host: &str) {
    assert_clean_failure(output);
    let lower = output.stderr.to_lowercase();
    assert!(
        output.stderr.contains(host)
            && (lower.contains("401")
                || lower.contains("unauthorized")
                || lower.contains("authentication")
                || lower.contains("credentials")),
        "the error must name {host} and the refusal:\n{}",
        output.streams()
    );
}

fn push(kiln: &Kiln, registry: &TestRegistry, extra: &[&str]) -> Output {
    let mut args = vec!["push", "-q", "app:1"];
    let destination = registry.image("secure/app:1");
    args.push(&destination);
    args.extend_from_slice(extra);
    kiln.run(args)
}

#[test]
fn login_logout_and_anonymous_refusal() {
    let Some(registry) = protected() else {
        return;
    };
    let kiln = isolated();
    build_small(&kiln, "app:1", "secured\n");
    let mut seen = Seen::default();

    // No credentials: exit 1, a clear error naming the registry.
    let refused = seen.keep(push(&kiln, &registry, &[]));
    assert_unauthorized(refused, registry.host());

    // A wrong password is refused by kiln login, and nothing is stored.
    let wrong = seen.keep(run_stdin(
        &kiln,
        &["login", "-u", USER, "--password-stdin", registry.host()],
        b"not-the-password\n",
    ));
    assert_clean_failure(wrong);
    assert!(!kiln.path("run/containers/auth.json").exists());

    // kiln login keeps the credentials in $XDG_RUNTIME_DIR/containers/auth.json.
    let login = seen.keep(run_stdin(
        &kiln,
        &["login", "-u", USER, "--password-stdin", registry.host()],
        format!("{PASSWORD}\n").as_bytes(),
    ));
    login.assert_success();
    assert!(
        login.stdout.contains("Login Succeeded"),
        "{}",
        login.streams()
    );
    let auth = std::fs::read_to_string(kiln.path("run/containers/auth.json"))
        .expect("kiln login writes auth.json");
    assert!(auth.contains(registry.host()), "{auth}");
    let pushed = pushed_digest(seen.keep(push(&kiln, &registry, &[])));
    assert_eq!(kiln.manifest_digest("app:1"), Some(pushed));

    // A pull into a fresh store with the same auth file works too.
    let fresh = isolated().env(
        "REGISTRY_AUTH_FILE",
        s(&kiln.path("run/containers/auth.json")),
    );
    let pulled = seen.keep(fresh.run(["pull", &registry.image("secure/app:1")]));
    pulled.assert_success();

    // kiln logout forgets them: the push is refused again.
    let logout = seen.keep(kiln.run(["logout", registry.host()]));
    logout.assert_success();
    assert_unauthorized(seen.keep(push(&kiln, &registry, &[])), registry.host());
    let again = seen.keep(kiln.run(["logout", registry.host()]));
    again.assert_failure();

    // -p PASS works too, and conflicts with --password-stdin.
    let flag = seen.keep(kiln.run(["login", "-u", USER, "-p", PASSWORD, registry.host()]));
    flag.assert_success();
    pushed_digest(seen.keep(push(&kiln, &registry, &[])));
    let both = seen.keep(run_stdin(
        &kiln,
        &[
            "login",
            "-u",
            USER,
            "-p",
            PASSWORD,
            "--password-stdin",
            registry.host(),
        ],
        b"x\n",
    ));
    assert_clean_failure(both);

    for dir in [kiln.store(), fresh.store()] {
        assert_not_in_tree(dir, PASSWORD.as_bytes());
        assert_not_in_tree(
            dir,
            base64(format!("{USER}:{PASSWORD}").as_bytes()).as_bytes(),
        );
    }
}

#[test]
fn docker_config_json_and_creds_flag() {
    let Some(registry) = protected() else {
        return;
    };
    let kiln = isolated();
    build_small(&kiln, "app:1", "from docker config\n");
    let mut seen = Seen::default();

    // Docker's config.json in $DOCKER_CONFIG, as `docker login` leaves it.
    let config = kiln.path("docker/config.json");
    let auth = base64(format!("{USER}:{PASSWORD}").as_bytes());
    std::fs::write(
        &config,
        format!(
            "{{\"auths\":{{\"{}\":{{\"auth\":\"{auth}\"}}}}}}\n",
            registry.host()
        ),
    )
    .expect("write config.json");
    let digest = pushed_digest(seen.keep(push(&kiln, &registry, &[])));
    std::fs::remove_file(&config).expect("remove config.json");
    assert_unauthorized(seen.keep(push(&kiln, &registry, &[])), registry.host());

    // --creds USER:PASS, for push, build --push and pull.
    let creds = format!("{USER}:{PASSWORD}");
    let with_creds = pushed_digest(seen.keep(push(&kiln, &registry, &["--creds", &creds])));
    assert_eq!(with_creds, digest);
    let wrong = seen.keep(push(&kiln, &registry, &["--creds", "kilnuser:wrong"]));
    assert_unauthorized(wrong, registry.host());

    let context = kiln.path("ctx");
    std::fs::create_dir_all(&context).expect("mkdir");
    std::fs::write(
        context.join("Dockerfile"),
        "FROM scratch\nLABEL built=yes\n",
    )
    .expect("write Dockerfile");
    let built_name = registry.image("secure/built:1");
    let built = seen.keep(kiln.try_build(
        ["-t", &built_name, "--push", "--creds", &creds, s(&context)],
        None,
    ));
    built.assert_success();
    assert!(built.stderr.contains("pushed "), "{}", built.streams());

    let fresh = isolated();
    let pulled = seen.keep(fresh.run(["pull", "--creds", &creds, &built_name]));
    pulled.assert_success();
    let refused = seen.keep(isolated().run(["pull", &built_name]));
    assert_unauthorized(refused, registry.host());

    for dir in [kiln.store(), fresh.store()] {
        assert_not_in_tree(dir, PASSWORD.as_bytes());
        assert_not_in_tree(dir, auth.as_bytes());
    }
}
