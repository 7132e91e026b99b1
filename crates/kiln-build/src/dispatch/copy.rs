//! COPY and ADD: select the sources, compute the entries, write the layer.

use std::rc::Rc;

use kiln_dockerfile::instruction::{Command, CopyArgs};
use kiln_layer::{LayerEntry, LayerOptions};

use crate::build::Engine;
use crate::context::IgnoreMatcher;
use crate::copy::{copy_entries, select::select, Chmod, CopySpec, Source};
use crate::error::{step_error, Result};
use crate::image::LayerRef;
use crate::paths;
use crate::sources::{from_tree, Tree};
use crate::stage::StageState;
use crate::vars::expand_heredoc_body;

/// Writes entries as a gzip layer into the store.
pub fn write_layer(engine: &Engine<'_>, entries: Vec<LayerEntry>) -> Result<LayerRef> {
    let writer = engine.store.blob_writer()?;
    let (layer, writer) = kiln_layer::write_layer(entries, writer, &LayerOptions::default())?;
    writer.commit_verified(&layer.digest)?;
    Ok(LayerRef {
        descriptor: kiln_oci::descriptor(layer.media_type, &layer.digest, layer.size),
        diff_id: layer.diff_id,
    })
}

pub fn dispatch_copy(
    engine: &mut Engine<'_>,
    state: &mut StageState,
    command: &Command,
    args: &CopyArgs,
) -> Result<()> {
    let span = command.span;
    let keyword = if args.is_add { "ADD" } else { "COPY" };
    let vars = state.vars();
    let expand = |word: &str| vars.expand(word, engine.escape, span);
    let dest_word = expand(&args.dest)?;
    let workdir = state
        .image
        .config
        .config
        .working_dir
        .clone()
        .unwrap_or_else(|| "/".to_string());
    let mut dest = paths::absolute(&workdir, &dest_word);
    let names_dir = dest_word.ends_with('/') || dest_word == "." || dest_word.ends_with("/.");
    if names_dir && !dest.ends_with('/') {
        dest.push('/');
    }
    let from = args.from.as_deref().map(expand).transpose()?;
    let chown = args
        .chown
        .as_deref()
        .map(expand)
        .transpose()?
        .filter(|value| !value.is_empty());
    let chmod_text = args.chmod.as_deref().map(expand).transpose()?;
    let chmod = chmod_text
        .as_deref()
        .map(Chmod::parse)
        .transpose()
        .map_err(|message| step_error(span, message))?;
    let excludes: Vec<String> = args
        .exclude
        .iter()
        .map(|pattern| expand(pattern))
        .collect::<Result<_>>()?;
    if args.keep_git_dir.is_some() {
        return Err(step_error(
            span,
            "ADD --keep-git-dir is not supported: kiln cannot add git repositories yet",
        ));
    }

    let mut words = Vec::new();
    let mut urls = Vec::new();
    let mut inline = Vec::new();
    for source in &args.sources {
        if let Some(name) = source.strip_prefix("<<") {
            let name = name
                .trim_start_matches('-')
                .trim_matches(|ch| ch == '"' || ch == '\'');
            if let Some(heredoc) = args.heredocs.iter().find(|heredoc| heredoc.name == name) {
                let mut body = heredoc.content.clone();
                if heredoc.chomp {
                    body = body
                        .lines()
                        .map(|line| line.trim_start_matches('\t'))
                        .collect::<Vec<_>>()
                        .join("\n")
                        + if heredoc.content.ends_with('\n') {
                            "\n"
                        } else {
                            ""
                        };
                }
                if heredoc.expand {
                    body = expand_heredoc_body(&body, &vars, engine.escape, span)?;
                }
                inline.push((heredoc.name.clone(), body.into_bytes()));
                continue;
            }
        }
        let word = expand(source)?;
        if super::add_url::is_git(&word) {
            return Err(step_error(
                span,
                format!("{keyword} of a git repository ({word}) is not supported yet"),
            ));
        }
        if super::add_url::is_http(&word) {
            if !args.is_add {
                return Err(step_error(
                    span,
                    format!("COPY does not accept URLs ({word}): use ADD"),
                ));
            }
            urls.push(word);
            continue;
        }
        words.push(word);
    }
    let checksum = match &args.checksum {
        Some(text) if urls.len() == 1 && words.is_empty() && inline.is_empty() => {
            let text = expand(text)?;
            Some(text.parse::<kiln_oci::Digest>().map_err(|err| {
                step_error(span, format!("invalid ADD --checksum {text:?}: {err}"))
            })?)
        }
        Some(_) => {
            return Err(step_error(
                span,
                "ADD --checksum is only valid with a single http(s) source",
            ))
        }
        None => None,
    };
    let downloads = urls
        .iter()
        .map(|url| super::add_url::download(engine, url, checksum.as_ref(), span))
        .collect::<Result<Vec<_>>>()?;

    let tree: Rc<Tree> = match &from {
        Some(from) => from_tree(engine, state.index, from, span)?,
        None => engine.context_tree()?,
    };
    let mut selected = Vec::new();
    for word in &words {
        let found = select(&tree.snapshot, word).map_err(|message| {
            let origin = from.as_deref().map_or_else(
                || "the build context".to_string(),
                |from| format!("{from:?}"),
            );
            step_error(
                span,
                format!("{keyword} failed: source {message} in {origin}"),
            )
        })?;
        selected.extend(found);
    }

    // ADD unpacks local tar archives into the destination directory.
    let unpack = args.is_add && args.unpack.unwrap_or(true);
    let mut archives: Vec<(usize, Tree)> = Vec::new();
    if unpack {
        for (position, item) in selected.iter().enumerate() {
            if let Some(tree) =
                crate::archive::extract_if_archive(engine, &tree.snapshot, &item.path, span)?
            {
                archives.push((position, tree));
            }
        }
    }
    let mut sources: Vec<Source<'_>> = Vec::new();
    for (position, item) in selected.iter().enumerate() {
        match archives.iter().find(|(at, _)| *at == position) {
            Some((_, extracted)) => sources.push(Source::Tree {
                tree: &extracted.snapshot,
                selected: crate::copy::Selected {
                    path: String::new(),
                    named: String::new(),
                },
                // An archive's files keep their owners unless --chown says otherwise.
                owners: chown.is_none().then_some(&extracted.owners),
            }),
            None => sources.push(Source::Tree {
                tree: &tree.snapshot,
                selected: item.clone(),
                owners: None,
            }),
        }
    }
    for (tree, name) in &downloads {
        sources.push(Source::Tree {
            tree: &tree.snapshot,
            selected: crate::copy::Selected {
                path: name.clone(),
                named: name.clone(),
            },
            owners: None,
        });
    }
    for (name, content) in inline {
        sources.push(Source::Inline { name, content });
    }
    if !archives.is_empty() && !dest.ends_with('/') {
        dest.push('/');
    }

    let index = state.fs_index(engine.store)?;
    let owner = match &chown {
        Some(value) => crate::copy::chown::resolve_chown(
            value,
            index.captured("etc/passwd"),
            index.captured("etc/group"),
        )
        .map_err(|message| step_error(span, message))?,
        None => (0, 0),
    };
    let exclude = if excludes.is_empty() {
        None
    } else {
        Some(IgnoreMatcher::new(&excludes)?)
    };
    let spec = CopySpec {
        dest: dest.clone(),
        owner,
        chmod,
        parents: args.parents,
        exclude,
        clamp_mtime: engine.options.source_date_epoch,
        created_mtime: engine.options.source_date_epoch.unwrap_or(0),
        base: if args.link { None } else { Some(index) },
    };
    let (entries, warnings) = copy_entries(&sources, &spec)
        .map_err(|message| step_error(span, format!("{keyword} failed: {message}")))?;
    drop(sources);
    for warning in warnings {
        engine.warn(warning);
    }
    let layer = write_layer(engine, entries)?;
    state.push_layer(engine.store, layer)?;

    let mut text = vec![keyword.to_string()];
    if let Some(from) = &from {
        text.push(format!("--from={from}"));
    }
    if let Some(chown) = &chown {
        text.push(format!("--chown={chown}"));
    }
    if let Some(chmod) = &chmod_text {
        text.push(format!("--chmod={chmod}"));
    }
    if args.link {
        text.push("--link".into());
    }
    if args.parents {
        text.push("--parents".into());
    }
    for pattern in &excludes {
        text.push(format!("--exclude={pattern}"));
    }
    text.extend(
        args.sources
            .iter()
            .zip(std::iter::repeat(()))
            .map(|(source, ())| source.clone()),
    );
    text.push(dest_word);
    state.history(
        &engine.created,
        format!("{} # buildkit", text.join(" ")),
        false,
    );
    Ok(())
}
