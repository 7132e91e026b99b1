//! `ADD http://…` end to end, against a tiny HTTP server in the test: the
//! file lands with mode 0600 and the Last-Modified mtime, as Docker does;
//! `--checksum` is verified; errors are clean.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use kiln_testutil::{sha256_hex, OciImage, Project};

use crate::common::{build_image, kiln};

const FILE: &str = "content served over http\n";
const OTHER: &str = "another file\n";
const LAST_MODIFIED: &str = "Wed, 21 Oct 2015 07:28:00 GMT";
/// `LAST_MODIFIED` in seconds since the epoch.
const LAST_MODIFIED_EPOCH: u64 = 1_445_412_480;

/// Serves `/f.txt` and `/dir/g.txt` (with Last-Modified) on 127.0.0.1 from
/// a background thread, 404 for anything else; returns `http://127.0.0.1:PORT`.
fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(&stream);
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            // Skip the headers.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let mut words = request_line.split(' ');
            let method = words.next().unwrap_or("");
            let path = words.next().unwrap_or("");
            let body = match path {
                "/f.txt" => Some(FILE),
                "/dir/g.txt" => Some(OTHER),
                _ => None,
            };
            let response = match body {
                Some(body) => format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nLast-Modified: {LAST_MODIFIED}\r\nConnection: close\r\n\r\n{}",
                    body.len(),
                    if method == "HEAD" { "" } else { body }
                ),
                None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_owned(),
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    base
}

fn context(dockerfile: &str) -> Project {
    let project = Project::empty();
    project.write("local.txt", "a local file\n");
    project.write("Dockerfile", dockerfile);
    project
}

fn build(dockerfile: &str) -> OciImage {
    build_image(&kiln(), &[context(dockerfile).arg()])
}

#[test]
fn add_url_sets_mode_mtime_and_content() {
    let base = serve();
    let image = build(&format!(
        "FROM scratch\nADD {base}/f.txt /f.txt\nADD {base}/dir/g.txt /dl/\n"
    ));
    let file = image.file("f.txt").expect("/f.txt in the image");
    assert_eq!(String::from_utf8_lossy(&file.content), FILE);
    assert_eq!(file.entry.mode & 0o7777, 0o600, "{}", file.entry);
    assert_eq!(file.entry.mtime, LAST_MODIFIED_EPOCH, "{}", file.entry);
    // A destination ending in / takes the name from the URL.
    let other = image.file("dl/g.txt").expect("/dl/g.txt in the image");
    assert_eq!(String::from_utf8_lossy(&other.content), OTHER);
    assert_eq!(other.entry.mode & 0o7777, 0o600, "{}", other.entry);
}

#[test]
fn add_url_checksum_is_verified() {
    let base = serve();
    let right = format!("sha256:{}", sha256_hex(FILE.as_bytes()));
    let image = build(&format!(
        "FROM scratch\nADD --checksum={right} {base}/f.txt /f.txt\n"
    ));
    assert_eq!(image.text("f.txt"), FILE);

    let wrong = format!("sha256:{}", sha256_hex(b"something else"));
    let kiln = kiln();
    let project = context(&format!(
        "FROM scratch\nADD --checksum={wrong} {base}/f.txt /f.txt\n"
    ));
    let output = kiln.build_fails([project.arg()]);
    assert!(output.stderr.contains("Dockerfile:2"), "{}", output.stderr);
    let lower = output.stderr.to_lowercase();
    assert!(
        lower.contains("checksum") || lower.contains("digest"),
        "the error must say the checksum did not match:\n{}",
        output.stderr
    );
}

#[test]
fn add_url_errors_are_clean() {
    let base = serve();
    let cases = [
        // --checksum with a local file.
        (
            format!(
                "FROM scratch\nADD --checksum=sha256:{} local.txt /l.txt\n",
                sha256_hex(b"a local file\n")
            ),
            "checksum",
        ),
        // A missing file on the server.
        (
            format!("FROM scratch\nADD {base}/missing.txt /m.txt\n"),
            "missing.txt",
        ),
        // A malformed checksum.
        (
            format!("FROM scratch\nADD --checksum=sha256:xyz {base}/f.txt /f.txt\n"),
            "checksum",
        ),
    ];
    for (dockerfile, expected) in cases {
        let kiln = kiln();
        let output = kiln.build_fails([context(&dockerfile).arg()]);
        assert!(
            output.stderr.contains("Dockerfile:2") && output.stderr.contains(expected),
            "{dockerfile}: expected an error about {expected:?}:\n{}",
            output.stderr
        );
    }
}
