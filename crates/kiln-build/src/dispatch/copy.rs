//! COPY and ADD: select the sources, compute the entries, write the layer.

use std::rc::Rc;

use kiln_dockerfile::instruction::{Command, CopyArgs};

use crate::build::Engine;
use crate::cache::StepInputs;
use crate::context::IgnoreMatcher;
use crate::copy::{copy_entries, select::select, Chmod, CopySpec, Source};
use crate::error::{step_error, Result};
use crate::image::LayerRef;
use crate::paths;
use crate::sources::{from_origin, from_tree, Origin, Tree};
use crate::stage::StageState;
use crate::vars::expand_heredoc_body;

use super::layer::{write_layer_into, write_layer_snapshot, write_prepared_layer};

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
    let workdir = state.workdir();
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

    // The owner in the key is `uid:gid` when the flag says it, else the
    // --chown text: names resolve through the base's /etc/passwd and
    // /etc/group, which `parent` stands for — so a hit never reads a layer.
    let owner_field = match &chown {
        Some(value) => match numeric_owner(value) {
            Some((uid, gid)) => format!("{uid}:{gid}"),
            None => format!("name {value}"),
        },
        None => "0:0".to_string(),
    };
    let exclude = if excludes.is_empty() {
        None
    } else {
        Some(IgnoreMatcher::new(&excludes)?)
    };
    let unpack = args.is_add && args.unpack.unwrap_or(true);

    // The cache key, from what the step reads, before anything is extracted.
    let origin = match &from {
        Some(from) => from_origin(engine, state.index, from, span)?,
        None => Origin::Tree(engine.context_tree()?),
    };
    // A --link layer does not depend on what is below it (as in BuildKit):
    // its key leaves the stage's filesystem out.
    let parent_key = state.fs_key.clone();
    let mut inputs = if args.link {
        StepInputs::new(keyword, &crate::cache::base_key("link", "", ""))
    } else {
        StepInputs::new(keyword, &parent_key)
    };
    inputs.set("dest", dest.clone());
    inputs.set("owner", owner_field);
    inputs.set("chmod", chmod_text.clone().unwrap_or_default());
    inputs.set(
        "flags",
        format!(
            "link={} parents={} unpack={unpack}",
            args.link, args.parents
        ),
    );
    inputs.set("exclude", excludes.join("\n"));
    inputs.set("sources", words.join("\n"));
    if let Some(epoch) = engine.options.source_date_epoch {
        inputs.set("epoch", epoch.to_string());
    }
    for (name, content) in &inline {
        inputs.set(
            format!("inline:{name}"),
            kiln_oci::Digest::sha256_of(content).to_string(),
        );
    }
    for (tree, name) in &downloads {
        let digest = tree.snapshot.file_digest(name)?;
        inputs.set(format!("url:{name}"), digest.to_string());
    }
    let mut selected = Vec::new();
    match &origin {
        Origin::Image(identity) => inputs.set("from", identity.clone()),
        Origin::Tree(tree) => {
            for word in &words {
                let found = select(&tree.snapshot, word).map_err(|message| {
                    let place = from.as_deref().map_or_else(
                        || "the build context".to_string(),
                        |from| format!("{from:?}"),
                    );
                    step_error(
                        span,
                        format!("{keyword} failed: source {message} in {place}"),
                    )
                })?;
                selected.extend(found);
            }
            let cache = &engine.stat_cache;
            crate::copy::key::add_selection_inputs(
                &mut inputs,
                &tree.snapshot,
                &selected,
                exclude.as_ref(),
                cache,
            )?;
        }
    }

    let history = history_text(
        keyword,
        &from,
        &chown,
        &chmod_text,
        args,
        &excludes,
        &dest_word,
    );
    let request = CopyRequest {
        keyword,
        from,
        words,
        selected,
        origin,
        downloads,
        inline,
        dest,
        chown: chown.clone(),
        chmod,
        exclude,
        unpack,
        link: args.link,
        parents: args.parents,
        chown_given: chown.is_some(),
    };
    engine.cached_layer(state, &command.original, inputs, |engine, state| {
        make_layer(engine, state, request, span)
    })?;
    if args.link {
        // Later steps still run on top of everything below.
        let mut chain = StepInputs::new("link-chain", &parent_key);
        chain.set("layer", state.fs_key.to_string());
        state.fs_key = chain.key();
    }
    state.history(&engine.created, history, false);
    Ok(())
}

/// `uid:gid` with both numeric.
fn numeric_owner(value: &str) -> Option<(u32, u32)> {
    let (user, group) = value.split_once(':')?;
    Some((user.parse().ok()?, group.parse().ok()?))
}

/// A COPY/ADD, ready to be carried out.
struct CopyRequest {
    keyword: &'static str,
    from: Option<String>,
    words: Vec<String>,
    selected: Vec<crate::copy::Selected>,
    origin: Origin,
    downloads: Vec<(Tree, String)>,
    inline: Vec<(String, Vec<u8>)>,
    dest: String,
    chown: Option<String>,
    chmod: Option<Chmod>,
    exclude: Option<IgnoreMatcher>,
    unpack: bool,
    link: bool,
    parents: bool,
    chown_given: bool,
}

/// Writes the layer of a COPY/ADD that missed the cache and adds it to the stage.
fn make_layer(
    engine: &mut Engine<'_>,
    state: &mut StageState,
    request: CopyRequest,
    span: kiln_dockerfile::Span,
) -> Result<LayerRef> {
    let CopyRequest {
        keyword,
        from,
        words,
        mut selected,
        origin,
        downloads,
        inline,
        mut dest,
        chown,
        chmod,
        exclude,
        unpack,
        link,
        parents,
        chown_given,
    } = request;
    engine.ensure_layers(&state.image)?;
    let tree: Rc<Tree> = match (&origin, &from) {
        (Origin::Tree(tree), _) => tree.clone(),
        (Origin::Image(_), Some(from)) => from_tree(engine, state.index, from, span)?,
        (Origin::Image(_), None) => engine.context_tree()?,
    };
    if matches!(origin, Origin::Image(_)) {
        for word in &words {
            let found = select(&tree.snapshot, word).map_err(|message| {
                step_error(
                    span,
                    format!(
                        "{keyword} failed: source {message} in {:?}",
                        from.as_deref().unwrap_or("")
                    ),
                )
            })?;
            selected.extend(found);
        }
    }

    // ADD unpacks local tar archives into the destination directory.
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
                owners: (!chown_given).then_some(&extracted.owners),
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
    let spec = CopySpec {
        dest,
        owner,
        chmod,
        parents,
        exclude,
        clamp_mtime: engine.options.source_date_epoch,
        created_mtime: engine.options.source_date_epoch.unwrap_or(0),
        base: if link { None } else { Some(index) },
    };
    let (entries, warnings) = copy_entries(&sources, &spec)
        .map_err(|message| step_error(span, format!("{keyword} failed: {message}")))?;
    drop(sources);
    for warning in warnings {
        engine.warn(warning);
    }
    let mut entries = entries;
    kiln_layer::prepare_entries(&mut entries)?;
    let layer = if engine.options.snapshotter == crate::Snapshotter::Overlay {
        if state.run_follows {
            write_layer_snapshot(engine, state, &entries)?
        } else {
            write_prepared_layer(engine, &entries)?
        }
    } else {
        let synced_rootfs = match &state.rootfs {
            Some(crate::rootfs::Rootfs::Native(rootfs))
                if rootfs.in_sync(state.image.layers.len()) =>
            {
                Some(rootfs.path().to_path_buf())
            }
            _ => None,
        };
        match &synced_rootfs {
            Some(rootfs) => {
                let options = kiln_layer::ExtractOptions {
                    apply_whiteouts: true,
                    preserve_ownership: true,
                    overlay: false,
                    digests: false,
                };
                let (layer, _) = write_layer_into(engine, &entries, rootfs, &options)?;
                if let Some(crate::rootfs::Rootfs::Native(rootfs)) = state.rootfs.as_mut() {
                    rootfs.mark_extracted(state.image.layers.len() + 1);
                }
                layer
            }
            None => write_prepared_layer(engine, &entries)?,
        }
    };
    state.push_layer_entries(engine.store, layer.clone(), &entries)?;
    Ok(layer)
}

/// BuildKit's history text of a COPY/ADD.
fn history_text(
    keyword: &str,
    from: &Option<String>,
    chown: &Option<String>,
    chmod: &Option<String>,
    args: &CopyArgs,
    excludes: &[String],
    dest_word: &str,
) -> String {
    let mut text = vec![keyword.to_string()];
    if let Some(from) = from {
        text.push(format!("--from={from}"));
    }
    if let Some(chown) = chown {
        text.push(format!("--chown={chown}"));
    }
    if let Some(chmod) = chmod {
        text.push(format!("--chmod={chmod}"));
    }
    if args.link {
        text.push("--link".into());
    }
    if args.parents {
        text.push("--parents".into());
    }
    for pattern in excludes {
        text.push(format!("--exclude={pattern}"));
    }
    text.extend(args.sources.iter().cloned());
    text.push(dest_word.to_string());
    format!("{} # buildkit", text.join(" "))
}
