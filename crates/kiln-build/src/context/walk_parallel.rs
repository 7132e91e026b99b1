//! The context walk on every core, for the common case of ignore patterns
//! without exceptions (`!`): directories are independent work items, taken
//! from a shared queue by one thread per core, and the entries are sorted at
//! the end exactly as the one-thread walk sorts them. With exceptions, the
//! one-thread walk in [`super::walk`] decides what an excluded directory keeps.

use std::fs;
use std::path::Path;
use std::sync::{Condvar, Mutex};

use super::error::ContextError;
use super::matcher::IgnoreMatcher;
use super::snapshot::ContextEntry;
use super::walk::entry_for;

struct Shared {
    queue: Vec<String>,
    busy: usize,
    entries: Vec<ContextEntry>,
    error: Option<ContextError>,
}

/// Every entry under `root` that `ignore` keeps, sorted by path. `ignore`
/// must have no exceptions.
pub(crate) fn walk_entries_parallel(
    root: &Path,
    ignore: &IgnoreMatcher,
    threads: usize,
) -> Result<Vec<ContextEntry>, ContextError> {
    let shared = Mutex::new(Shared {
        queue: vec![String::new()],
        busy: 0,
        entries: Vec::new(),
        error: None,
    });
    let wake = Condvar::new();
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| worker(root, ignore, &shared, &wake));
        }
    });
    let shared = shared
        .into_inner()
        .unwrap_or_else(|poison| poison.into_inner());
    if let Some(error) = shared.error {
        return Err(error);
    }
    let mut entries = shared.entries;
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|poison| poison.into_inner())
}

fn worker(root: &Path, ignore: &IgnoreMatcher, shared: &Mutex<Shared>, wake: &Condvar) {
    loop {
        let dir = {
            let mut state = lock(shared);
            loop {
                if state.error.is_some() {
                    return;
                }
                if let Some(dir) = state.queue.pop() {
                    state.busy += 1;
                    break dir;
                }
                if state.busy == 0 {
                    wake.notify_all();
                    return;
                }
                state = wake
                    .wait(state)
                    .unwrap_or_else(|poison| poison.into_inner());
            }
        };
        let result = list_dir(root, &dir, ignore);
        let mut state = lock(shared);
        state.busy -= 1;
        match result {
            Ok((entries, dirs)) => {
                state.entries.extend(entries);
                state.queue.extend(dirs);
            }
            Err(error) => {
                state.error.get_or_insert(error);
            }
        }
        wake.notify_all();
    }
}

/// The kept entries of one directory, and its kept subdirectories.
fn list_dir(
    root: &Path,
    dir: &str,
    ignore: &IgnoreMatcher,
) -> Result<(Vec<ContextEntry>, Vec<String>), ContextError> {
    let dir_path = if dir.is_empty() {
        root.to_path_buf()
    } else {
        root.join(dir)
    };
    let listing = fs::read_dir(&dir_path).map_err(|source| ContextError::io(&dir_path, source))?;
    let mut entries = Vec::new();
    let mut dirs = Vec::new();
    for item in listing {
        let item = item.map_err(|source| ContextError::io(&dir_path, source))?;
        let name = item
            .file_name()
            .into_string()
            .map_err(|name| ContextError::NonUtf8Path {
                path: dir_path.join(name),
            })?;
        let path = if dir.is_empty() {
            name.clone()
        } else {
            format!("{dir}/{name}")
        };
        if ignore.is_excluded(&path) {
            continue;
        }
        let file_path = dir_path.join(&name);
        let metadata = item
            .metadata()
            .map_err(|source| ContextError::io(&file_path, source))?;
        let is_dir = metadata.file_type().is_dir();
        let entry = entry_for(path, &file_path, &metadata)?;
        if is_dir {
            dirs.push(entry.path.clone());
        }
        entries.push(entry);
    }
    Ok((entries, dirs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::walk::walk_entries_one_thread;

    #[test]
    fn same_entries_as_the_one_thread_walk() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for dir in 0..12 {
            for file in 0..30 {
                let path = root.join(format!("d{dir}/sub{}/f{file}.txt", file % 3));
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                fs::write(&path, format!("{dir}-{file}")).unwrap();
            }
        }
        std::os::unix::fs::symlink("d1", root.join("link")).unwrap();
        fs::create_dir(root.join("empty")).unwrap();
        fs::write(root.join("a-b"), "x").unwrap();
        for patterns in [vec![], vec!["d3".to_string(), "**/f1*.txt".to_string()]] {
            let ignore = IgnoreMatcher::new(&patterns).unwrap();
            let one = walk_entries_one_thread(root, &ignore).unwrap();
            for threads in [1, 2, 4] {
                let many = walk_entries_parallel(root, &ignore, threads).unwrap();
                let paths = |entries: &[ContextEntry]| {
                    entries.iter().map(|e| e.path.clone()).collect::<Vec<_>>()
                };
                assert_eq!(
                    paths(&many),
                    paths(&one),
                    "{patterns:?} on {threads} threads"
                );
                assert_eq!(many, one);
            }
        }
    }

    #[test]
    fn errors_name_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("missing");
        let err = walk_entries_parallel(&missing, &IgnoreMatcher::default(), 2).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
