//! `kiln prune`: removing a tag leaves the blobs; prune deletes what no tag
//! reaches (after the age window, or at once with --all), says how much it
//! freed, and leaves the remaining images intact for kiln and skopeo.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime};

use kiln_testutil::{assert_clean_failure, require_tool, run_ok, Kiln};

use crate::common::s;
use crate::images::{stored, two_images};

/// Every blob of the store with its size.
fn blobs(kiln: &Kiln) -> BTreeMap<String, u64> {
    std::fs::read_dir(kiln.store().join("blobs/sha256"))
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (
                format!("sha256:{}", entry.file_name().to_string_lossy()),
                entry.metadata().unwrap().len(),
            )
        })
        .collect()
}

fn blob_path(kiln: &Kiln, digest: &str) -> PathBuf {
    kiln.store()
        .join("blobs/sha256")
        .join(&digest["sha256:".len()..])
}

/// Parses "Total reclaimed space: 1.234kB" into bytes (approximately).
fn reclaimed(stdout: &str) -> f64 {
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("Total reclaimed space: "))
        .unwrap_or_else(|| panic!("no total line in {stdout:?}"));
    let split = line.find(|c: char| c.is_ascii_alphabetic()).unwrap();
    let (number, unit) = line.split_at(split);
    let scale = match unit {
        "B" => 1.0,
        "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        other => panic!("unit {other}"),
    };
    number.parse::<f64>().unwrap() * scale
}

#[test]
fn prune_frees_what_no_tag_reaches() {
    let kiln = two_images();
    let hello = stored(&kiln, "hello:1");
    let copy = stored(&kiln, "copy:2");
    let before = blobs(&kiln);
    let output = kiln.run(["rmi", "copy:2"]);
    output.assert_success();

    // Without -f and without a terminal, prune refuses and says why.
    let refused = kiln.run(["prune"]);
    assert_clean_failure(&refused);
    assert!(
        refused.stderr.contains("not a terminal"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("-f"), "{}", refused.stderr);

    // The default mode keeps blobs written in the last 10 minutes.
    let young = kiln.run(["prune", "-f"]);
    young.assert_success();
    assert_eq!(young.stdout, "Total reclaimed space: 0B\n");
    assert_eq!(blobs(&kiln), before);

    // Once they are old enough, it deletes copy's manifest, config and layers.
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    for digest in before.keys() {
        let file = std::fs::File::open(blob_path(&kiln, digest)).unwrap();
        file.set_modified(hour_ago).unwrap();
    }
    let pruned = kiln.run(["prune", "-f"]);
    pruned.assert_success();
    let after = blobs(&kiln);
    let deleted: Vec<&String> = before
        .keys()
        .filter(|digest| !after.contains_key(*digest))
        .collect();
    assert!(deleted.contains(&&copy.manifest_digest), "{deleted:?}");
    assert!(deleted.contains(&&copy.config_digest), "{deleted:?}");
    let mut kept = vec![hello.manifest_digest.clone(), hello.config_digest.clone()];
    kept.extend(hello.layers.iter().map(|layer| layer.digest.clone()));
    for digest in &kept {
        assert!(
            after.contains_key(digest),
            "{digest} of hello:1 was deleted"
        );
    }
    let listed: Vec<&str> = pruned
        .stdout
        .lines()
        .filter_map(|line| line.strip_prefix("deleted: "))
        .collect();
    assert_eq!(
        listed,
        deleted.iter().map(|d| d.as_str()).collect::<Vec<_>>()
    );
    let freed: u64 = deleted.iter().map(|digest| before[*digest]).sum();
    let shown = reclaimed(&pruned.stdout);
    assert!(
        (shown - freed as f64).abs() <= freed as f64 * 0.001 + 0.5,
        "shown {shown}, freed {freed}\n{}",
        pruned.stdout
    );

    // hello:1 is intact for kiln (digests verified) and for skopeo.
    let again = stored(&kiln, "hello:1");
    assert_eq!(again.manifest_digest, hello.manifest_digest);
    run_ok(kiln.cmd().args(["images"]));
    run_ok(kiln.cmd().args(["inspect", "hello:1"]));
    if require_tool("skopeo") {
        run_ok(
            Command::new("skopeo").args(["inspect", &format!("oci:{}:hello:1", s(kiln.store()))]),
        );
    }
}

#[test]
fn prune_all_ignores_the_age_window() {
    let kiln = two_images();
    let copy = stored(&kiln, "copy:2");
    run_ok(kiln.cmd().args(["rmi", "-q", "copy:2"]));
    let pruned = kiln.run(["prune", "--all", "--force", "--quiet"]);
    pruned.assert_success();
    assert!(!pruned.stdout.contains("deleted:"), "{}", pruned.stdout);
    assert!(reclaimed(&pruned.stdout) > 0.0);
    assert!(!blob_path(&kiln, &copy.manifest_digest).exists());
    assert!(!blob_path(&kiln, &copy.config_digest).exists());
    stored(&kiln, "hello:1");

    // Nothing left: a second prune frees nothing.
    let again = kiln.run(["prune", "-af"]);
    again.assert_success();
    assert_eq!(again.stdout, "Total reclaimed space: 0B\n");
}
