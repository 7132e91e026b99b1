//! The end of a build: the image into the store, tags, `-o` outputs, `--iidfile`.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use kiln_oci::ExportImage;

use crate::build::{BuildOutcome, Engine};
use crate::error::{BuildError, Result};
use crate::image::Image;
use crate::options::Output;
use crate::progress::Event;

/// Stores the image and writes every requested output.
pub fn export(engine: &Engine<'_>, image: &Image) -> Result<BuildOutcome> {
    let started = Instant::now();
    let id = usize::MAX;
    engine.progress.event(Event::StepStarted {
        id,
        label: "export".into(),
        stage: String::new(),
        text: "exporting to image".into(),
    });
    let stored = image.store(engine.store)?;
    let log = |line: String| engine.progress.event(Event::StepLog { id, line });
    log(format!("writing image {}", stored.config_digest));
    let images = [ExportImage {
        manifest: stored.manifest.clone(),
        names: engine.options.tags.clone(),
    }];
    for output in &engine.options.outputs {
        match output {
            Output::OciArchive(dest) => {
                kiln_oci::write_oci_archive(dest, &images, engine.store)?;
                log(format!("exporting oci-archive to {}", dest.display()));
            }
            Output::OciDir(dest) => {
                kiln_oci::write_oci_dir(dest, &images, engine.store)?;
                log(format!("exporting OCI layout to {}", dest.display()));
            }
            Output::DockerArchive(dest) => {
                kiln_oci::write_docker_archive(dest, &images, engine.store)?;
                log(format!("exporting docker archive to {}", dest.display()));
            }
        }
    }
    for tag in &engine.options.tags {
        engine.store.set_tag(&tag.familiar(), &stored.manifest)?;
        log(format!("naming to {}", tag));
    }
    if let Some(path) = &engine.options.iidfile {
        write_atomically(path, stored.config_digest.to_string().as_bytes())?;
    }
    engine.progress.event(Event::StepDone {
        id,
        duration: started.elapsed(),
        cached: false,
        miss_reason: None,
    });
    Ok(BuildOutcome {
        manifest: stored.manifest,
        config_digest: stored.config_digest,
    })
}

/// Writes a small file via a temporary sibling and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let io = |source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    temp.write_all(bytes).map_err(io)?;
    temp.persist(path).map_err(|err| io(err.error))?;
    Ok(())
}
