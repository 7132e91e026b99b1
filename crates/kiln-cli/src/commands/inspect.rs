//! `kiln inspect IMAGE...`: a JSON array shaped like `docker image inspect`,
//! plus `History` (the config's history, which docker leaves out), or one
//! `--format` template line per image.
//!
//! `Size` is what `kiln images` shows: compressed layers plus the config
//! (docker reports uncompressed layers).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use kiln_oci::Reference;
use serde_json::{json, Map, Value};

use super::store_images::{self, StoredImage};
use super::template::Template;
use super::{open_store, write_stdout};

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Images: names, image IDs (or prefixes) or digests.
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
    /// A Go-template subset applied to each image, e.g. `{{.Config.Cmd}}`,
    /// `{{json .RootFS.Layers}}`, `{{index .Config.Labels "k"}}` (see README);
    /// `json` prints the array (the default).
    #[arg(short, long, value_name = "FORMAT")]
    pub format: Option<String>,
}

pub fn run(root: Option<PathBuf>, args: InspectArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(root)?;
    let images = store_images::list(&store)?;
    let template = match args.format.as_deref() {
        None | Some("json") => None,
        Some(format) => Some(Template::parse(format)?),
    };
    let mut objects = Vec::new();
    let mut failed = false;
    for text in &args.images {
        match store_images::lookup(&images, text) {
            Ok(found) => objects.push(inspect_object(&images, found.image())),
            Err(err) => {
                failed = true;
                eprintln!("error: {err:#}");
            }
        }
    }
    let out = match template {
        None => format!(
            "{}\n",
            serde_json::to_string_pretty(&Value::Array(objects))?
        ),
        Some(template) => {
            let mut out = String::new();
            for object in &objects {
                out.push_str(&template.render(object)?);
                out.push('\n');
            }
            out
        }
    };
    write_stdout(&out)?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The docker-shaped object of `images[position]`; `RepoTags` and
/// `RepoDigests` gather every manifest of the store with the same image ID.
pub fn inspect_object(images: &[StoredImage], position: usize) -> Value {
    let image = &images[position];
    let mut repo_tags = Vec::new();
    let mut repo_digests = Vec::new();
    for same in images
        .iter()
        .filter(|other| other.config_digest == image.config_digest)
    {
        for name in &same.names {
            repo_tags.push(name.clone());
            let repository = name
                .parse::<Reference>()
                .map(|reference| reference.familiar_name())
                .unwrap_or_else(|_| name.clone());
            let digest = format!("{repository}@{}", same.repo_digest());
            if !repo_digests.contains(&digest) {
                repo_digests.push(digest);
            }
        }
    }
    let config = &image.config;
    let mut object = Map::new();
    object.insert("Id".into(), json!(image.config_digest.to_string()));
    object.insert("RepoTags".into(), json!(repo_tags));
    object.insert("RepoDigests".into(), json!(repo_digests));
    object.insert("Parent".into(), json!(""));
    object.insert("Comment".into(), json!(""));
    object.insert(
        "Created".into(),
        json!(config.created.clone().unwrap_or_default()),
    );
    object.insert("DockerVersion".into(), json!(""));
    object.insert(
        "Author".into(),
        json!(config.author.clone().unwrap_or_default()),
    );
    object.insert("Config".into(), container_config(image));
    object.insert("Architecture".into(), json!(config.architecture));
    if let Some(variant) = &config.variant {
        object.insert("Variant".into(), json!(variant));
    }
    object.insert("Os".into(), json!(config.os));
    object.insert("Size".into(), json!(image.size()));
    object.insert(
        "RootFS".into(),
        json!({
            "Type": config.rootfs.fs_type,
            "Layers": config.rootfs.diff_ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }),
    );
    object.insert(
        "History".into(),
        serde_json::to_value(&config.history).unwrap_or(Value::Array(Vec::new())),
    );
    object.insert(
        "Descriptor".into(),
        json!({
            "mediaType": image.descriptor.media_type().to_string(),
            "digest": image.repo_digest(),
            "size": image.descriptor.size(),
        }),
    );
    Value::Object(object)
}

/// The config's `config` with docker's field names, and docker's defaults
/// for the fields an image config does not carry.
fn container_config(image: &StoredImage) -> Value {
    let mut config = match serde_json::to_value(&image.config.config) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let defaults = [
        ("Hostname", json!("")),
        ("Domainname", json!("")),
        ("User", json!("")),
        ("AttachStdin", json!(false)),
        ("AttachStdout", json!(false)),
        ("AttachStderr", json!(false)),
        ("Tty", json!(false)),
        ("OpenStdin", json!(false)),
        ("StdinOnce", json!(false)),
        ("Env", Value::Null),
        ("Cmd", Value::Null),
        ("Image", json!("")),
        ("Volumes", Value::Null),
        ("WorkingDir", json!("")),
        ("Entrypoint", Value::Null),
        ("OnBuild", Value::Null),
        ("Labels", Value::Null),
    ];
    for (key, value) in defaults {
        config.entry(key).or_insert(value);
    }
    Value::Object(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_oci::{ContainerConfig, Digest, ImageConfig};

    #[test]
    fn object_has_dockers_shape() {
        let config = ImageConfig {
            created: Some("2024-01-02T03:04:05Z".into()),
            architecture: "amd64".into(),
            os: "linux".into(),
            config: ContainerConfig {
                cmd: Some(vec!["sh".into()]),
                ..ContainerConfig::default()
            },
            ..ImageConfig::default()
        };
        let manifest = Digest::sha256_of(b"m");
        let image = StoredImage {
            names: vec!["app:1".into(), "quay.io/x/y:2".into()],
            descriptor: kiln_oci::descriptor(kiln_oci::OCI_MANIFEST, &manifest, 5),
            manifest_digest: manifest.clone(),
            config_digest: Digest::sha256_of(b"c"),
            config_size: 7,
            config,
            layers: vec![(Digest::sha256_of(b"l"), 3)],
        };
        let object = inspect_object(&[image], 0);
        assert_eq!(object["Id"], json!(Digest::sha256_of(b"c").to_string()));
        assert_eq!(object["RepoTags"], json!(["app:1", "quay.io/x/y:2"]));
        assert_eq!(
            object["RepoDigests"],
            json!([format!("app@{manifest}"), format!("quay.io/x/y@{manifest}")])
        );
        assert_eq!(object["Size"], json!(10));
        assert_eq!(object["Config"]["Cmd"], json!(["sh"]));
        assert_eq!(object["Config"]["Entrypoint"], Value::Null);
        assert_eq!(object["Config"]["WorkingDir"], json!(""));
        assert_eq!(object["RootFS"]["Type"], json!("layers"));
        assert!(object.get("Variant").is_none());
        assert_eq!(object["History"], json!([]));
    }
}
