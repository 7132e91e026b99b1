//! Parallel, deterministic gzip: a pigz-style encoder whose output bytes depend only on the
//! input bytes, the level and the block size, never on the number of threads or on timing.
//!
//! The uncompressed stream is cut into blocks of [`BLOCK_SIZE`] bytes. Each block is
//! compressed on its own by a fresh raw-DEFLATE stream, primed with the last 32 KiB of the
//! input that precedes it as a preset dictionary (so matches may reach back across the cut,
//! as in one long stream), and ended with a sync flush (an empty stored block, which leaves
//! the stream byte-aligned and not final). The last block is ended with a final block. The
//! concatenation of the blocks is therefore a single DEFLATE stream, wrapped in one gzip
//! member with a fixed header (no name, mtime 0, OS 255) and a trailer holding the CRC-32
//! (combined from per-block CRCs, in order) and the length of the whole input.
//!
//! Blocks are compressed by a fixed set of worker threads; at most `2 × threads` blocks are
//! in flight, so memory stays bounded however long the stream is. With one thread the
//! blocks are compressed inline, with the same function and so the same bytes.
//!
//! Reuse ([`crate::blockmap`]): a block's compressed bytes are a pure function of the
//! compressor, the level, its dictionary, its bytes and its last flag. With
//! [`GzOptions::block_map`] or [`GzOptions::reuse`] the workers hash exactly those into a
//! 16-byte key; the encoder records a [`BlockMap`] of the blob it writes,
//! and asks the [`BlockSource`] for each block's bytes before compressing it. Copied bytes
//! are the bytes compressing would give, so the output never depends on what was reused.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

use crate::blockmap::{block_key, BlockMap, BlockRecord, BlockSource};

/// Uncompressed bytes per independently compressed block: 128 KiB, as pigz. The output
/// depends on it, so changing it changes every gzip layer digest.
pub const BLOCK_SIZE: usize = 128 * 1024;

/// The DEFLATE window: how much preceding input primes each block's compressor.
const WINDOW: usize = 32 * 1024;

/// Blocks allowed in flight per worker thread.
const IN_FLIGHT_PER_THREAD: usize = 2;

/// Blocks up to this size are keyed and mapped (their lengths fit the map's u32 fields).
const MAX_MAPPED_BLOCK: usize = 1 << 30;

/// The number of threads used when 0 is asked for: the available parallelism.
pub fn default_threads() -> usize {
    thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// The 10-byte gzip header written for `level`: deflate, no flags, mtime 0, the XFL byte
/// zlib and flate2 write for the level (2 = best, 4 = fastest), OS 255 (unknown).
pub fn gzip_header(level: u32) -> [u8; 10] {
    let extra_flags = match level {
        9.. => 2,
        0 | 1 => 4,
        _ => 0,
    };
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, extra_flags, 255]
}

/// One block to compress: `buffer` holds `dict_len` bytes of dictionary then the block.
struct Job {
    seq: u64,
    buffer: Vec<u8>,
    dict_len: usize,
    last: bool,
}

/// One compressed block, the CRC-32 of its uncompressed bytes, its key when keyed, and
/// whether its bytes were copied from the reuse source.
struct Block {
    bytes: Vec<u8>,
    crc: Crc,
    key: Option<[u8; 16]>,
    reused: bool,
}

/// What every block is processed with; shared read-only with the workers.
struct Settings {
    level: u32,
    block_size: usize,
    /// Whether blocks are keyed (a map is recorded or a source consulted).
    keyed: bool,
    reuse: Option<Arc<dyn BlockSource>>,
}

/// A finished job, in whatever order the workers finish them.
struct Done {
    seq: u64,
    block: io::Result<Block>,
}

/// The worker threads and the channels to and from them.
struct Pool {
    jobs: Option<Sender<Job>>,
    results: Receiver<Done>,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    fn new(threads: usize, settings: &Arc<Settings>) -> Pool {
        let (job_sender, job_receiver) = mpsc::channel::<Job>();
        let (result_sender, results) = mpsc::channel::<Done>();
        let job_receiver = Arc::new(Mutex::new(job_receiver));
        let workers = (0..threads)
            .map(|_| {
                let jobs = Arc::clone(&job_receiver);
                let results = result_sender.clone();
                let settings = Arc::clone(settings);
                thread::spawn(move || worker(&jobs, &results, &settings))
            })
            .collect();
        Pool {
            jobs: Some(job_sender),
            results,
            workers,
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the job channel makes every worker return once its current block is done.
        self.jobs = None;
        for worker in self.workers.drain(..) {
            // A worker cannot panic past its catch_unwind; nothing useful to do if it did.
            let _ = worker.join();
        }
    }
}

/// A worker: takes jobs until the channel closes, sends back each compressed block.
fn worker(jobs: &Mutex<Receiver<Job>>, results: &Sender<Done>, settings: &Settings) {
    loop {
        let job = match jobs.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let block = panic::catch_unwind(AssertUnwindSafe(|| process_block(settings, &job)))
            .unwrap_or_else(|_| {
                Err(io::Error::other(
                    "gzip worker panicked while processing a block",
                ))
            });
        if results
            .send(Done {
                seq: job.seq,
                block,
            })
            .is_err()
        {
            return;
        }
    }
}

/// Keys a block when asked, takes its bytes from the reuse source when it has them and
/// they are plausible, and compresses it otherwise.
fn process_block(settings: &Settings, job: &Job) -> io::Result<Block> {
    let (dictionary, input) = job.buffer.split_at(job.dict_len.min(job.buffer.len()));
    let mut crc = Crc::new();
    crc.update(input);
    let key = settings.keyed.then(|| {
        block_key(
            settings.level,
            settings.block_size,
            job.last,
            dictionary,
            input,
        )
    });
    if let (Some(key), Some(source)) = (&key, &settings.reuse) {
        if let Some(bytes) = source.compressed(key, crc.sum(), crc.amount()) {
            if plausible_block(&bytes, job.last) {
                return Ok(Block {
                    bytes,
                    crc,
                    key: Some(*key),
                    reused: true,
                });
            }
        }
    }
    let bytes = compress_block(
        Compression::new(settings.level),
        dictionary,
        input,
        job.last,
    )?;
    Ok(Block {
        bytes,
        crc,
        key,
        reused: false,
    })
}

/// Whether `bytes` can be a block ended as `last` says: not empty, and a block that is not
/// last ends with the empty stored block of a sync flush, so it cannot end the stream.
fn plausible_block(bytes: &[u8], last: bool) -> bool {
    !bytes.is_empty() && (last || bytes.ends_with(&[0, 0, 0xff, 0xff]))
}

/// Compresses `input` as a raw-DEFLATE fragment primed with `dictionary`, ended by a sync
/// flush or, if `last`, by the final block.
///
/// Every block gets a fresh (zeroed) compressor: a reset one keeps the previous block's
/// bytes in its window, and the match finder reads a little past the end of the input, so
/// the output would depend on which block that compressor saw before, i.e. on scheduling.
pub(crate) fn compress_block(
    level: Compression,
    dictionary: &[u8],
    input: &[u8],
    last: bool,
) -> io::Result<Vec<u8>> {
    let mut compressor = Compress::new(level, false);
    if !dictionary.is_empty() {
        compressor
            .set_dictionary(dictionary)
            .map_err(|error| io::Error::other(format!("failed to set gzip dictionary: {error}")))?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    // Room for incompressible input (stored blocks) plus the flush markers; grown if short.
    let mut bytes = Vec::with_capacity(input.len() + input.len() / 64 + 64);
    let mut consumed = 0;
    loop {
        let before = compressor.total_in();
        let status = compressor
            .compress_vec(&input[consumed..], &mut bytes, flush)
            .map_err(|error| io::Error::other(format!("failed to compress gzip block: {error}")))?;
        consumed += usize::try_from(compressor.total_in() - before)
            .map_err(|_| io::Error::other("gzip block size overflow"))?;
        let done = match status {
            Status::StreamEnd => true,
            // A sync flush is complete once all input is taken and output space is left over.
            Status::Ok | Status::BufError => {
                !last && consumed == input.len() && bytes.len() < bytes.capacity()
            }
        };
        if done {
            break;
        }
        bytes.reserve(bytes.capacity().max(64));
    }
    Ok(bytes)
}

/// The settings of a [`ParallelGzEncoder`].
#[derive(Clone)]
pub struct GzOptions {
    /// The level, 0–9 (higher is clamped).
    pub level: u32,
    /// Worker threads; 0 means [`default_threads`]. The bytes do not depend on it.
    pub threads: usize,
    /// Uncompressed bytes per block (at least 1); the bytes depend on it.
    pub block_size: usize,
    /// Record a [`BlockMap`] of the output ([`Finished::block_map`]).
    pub block_map: bool,
    /// Where to look for compressed blocks before compressing them.
    pub reuse: Option<Arc<dyn BlockSource>>,
}

impl Default for GzOptions {
    /// Level 6, all cores, [`BLOCK_SIZE`], no map, no reuse.
    fn default() -> Self {
        GzOptions {
            level: 6,
            threads: 0,
            block_size: BLOCK_SIZE,
            block_map: false,
            reuse: None,
        }
    }
}

impl std::fmt::Debug for GzOptions {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("GzOptions")
            .field("level", &self.level)
            .field("threads", &self.threads)
            .field("block_size", &self.block_size)
            .field("block_map", &self.block_map)
            .field("reuse", &self.reuse.as_ref().map(|_| "BlockSource"))
            .finish()
    }
}

/// What [`ParallelGzEncoder::finish_with_map`] returns.
#[derive(Debug)]
pub struct Finished<W> {
    /// The output writer, flushed.
    pub out: W,
    /// The map of the blob written, when [`GzOptions::block_map`] was set (and the block
    /// size is at most 1 GiB).
    pub block_map: Option<BlockMap>,
    /// How many blocks the stream has (always at least one, the final block).
    pub blocks: u64,
    /// How many of them were copied from [`GzOptions::reuse`] instead of compressed.
    pub reused_blocks: u64,
}

/// A streaming gzip encoder that compresses blocks on several threads; see the module docs.
///
/// [`Write::flush`] writes out every block already cut (waiting for them) and flushes the
/// output, but never cuts a block early, so flushing does not change the bytes. Call
/// [`ParallelGzEncoder::finish`] to end the stream; dropping the encoder abandons it. After
/// an error the encoder is in an unspecified state and should be dropped.
pub struct ParallelGzEncoder<W: Write> {
    out: W,
    settings: Arc<Settings>,
    /// Dictionary (the last bytes before the block) followed by the block being filled.
    pending: Vec<u8>,
    dict_len: usize,
    next_seq: u64,
    next_write: u64,
    ready: BTreeMap<u64, Block>,
    crc: Crc,
    total_in: u64,
    header_written: bool,
    /// Bytes written to `out` so far.
    written: u64,
    /// The records of the blocks written, when a map is recorded.
    records: Option<Vec<BlockRecord>>,
    reused_blocks: u64,
    /// The workers; `None` compresses inline, on the calling thread.
    pool: Option<Pool>,
    max_in_flight: usize,
}

impl<W: Write> ParallelGzEncoder<W> {
    /// An encoder writing to `out` at `level` (0–9, higher is clamped) with [`BLOCK_SIZE`]
    /// blocks on `threads` threads (0: [`default_threads`]).
    pub fn new(out: W, level: u32, threads: usize) -> Self {
        Self::with_block_size(out, level, threads, BLOCK_SIZE)
    }

    /// As [`ParallelGzEncoder::new`] with another block size (at least 1 byte). The output
    /// bytes are a function of the input, the level and the block size.
    pub fn with_block_size(out: W, level: u32, threads: usize, block_size: usize) -> Self {
        Self::with_options(
            out,
            GzOptions {
                level,
                threads,
                block_size,
                ..GzOptions::default()
            },
        )
    }

    /// An encoder with all settings. The output bytes are a function of the input, the
    /// level and the block size, whatever the threads and whatever is reused.
    pub fn with_options(out: W, options: GzOptions) -> Self {
        let level = options.level.min(9);
        let threads = if options.threads == 0 {
            default_threads()
        } else {
            options.threads
        };
        let block_size = options.block_size.max(1);
        let mappable = block_size <= MAX_MAPPED_BLOCK;
        let settings = Arc::new(Settings {
            level,
            block_size,
            keyed: mappable && (options.block_map || options.reuse.is_some()),
            reuse: options.reuse.filter(|_| mappable),
        });
        let pool = (threads > 1).then(|| Pool::new(threads, &settings));
        ParallelGzEncoder {
            out,
            settings,
            pending: Vec::with_capacity(WINDOW.min(block_size) + block_size),
            dict_len: 0,
            next_seq: 0,
            next_write: 0,
            ready: BTreeMap::new(),
            crc: Crc::new(),
            total_in: 0,
            header_written: false,
            written: 0,
            records: (mappable && options.block_map).then(Vec::new),
            reused_blocks: 0,
            pool,
            max_in_flight: threads * IN_FLIGHT_PER_THREAD,
        }
    }

    /// Uncompressed bytes accepted so far.
    pub fn total_in(&self) -> u64 {
        self.total_in
    }

    /// Blocks written so far whose bytes were copied from the reuse source.
    pub fn reused_blocks(&self) -> u64 {
        self.reused_blocks
    }

    /// The output writer.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Compresses what is left as the final block, writes the trailer and returns the
    /// output writer (flushed).
    pub fn finish(self) -> io::Result<W> {
        self.finish_with_map().map(|finished| finished.out)
    }

    /// As [`ParallelGzEncoder::finish`], and also returns the block map (when recorded)
    /// and the block counts.
    pub fn finish_with_map(mut self) -> io::Result<Finished<W>> {
        self.cut_block(true)?;
        self.drain_all()?;
        let mut trailer = [0u8; 8];
        trailer[..4].copy_from_slice(&self.crc.sum().to_le_bytes());
        // ISIZE is the input length modulo 2^32.
        trailer[4..].copy_from_slice(&((self.total_in & 0xffff_ffff) as u32).to_le_bytes());
        self.out.write_all(&trailer)?;
        self.written += trailer.len() as u64;
        self.out.flush()?;
        // Stop the workers before handing the writer back.
        self.pool = None;
        let block_map = self.records.take().map(|blocks| BlockMap {
            level: self.settings.level,
            // Mapped only when the block size is at most MAX_MAPPED_BLOCK.
            block_size: u32::try_from(self.settings.block_size).unwrap_or(u32::MAX),
            total_in: self.total_in,
            blob_size: self.written,
            blocks,
        });
        let ParallelGzEncoder {
            out,
            next_write,
            reused_blocks,
            ..
        } = self;
        Ok(Finished {
            out,
            block_map,
            blocks: next_write,
            reused_blocks,
        })
    }

    /// Hands the block in `pending` to be compressed and starts the next one with the last
    /// [`WINDOW`] bytes of input as its dictionary.
    fn cut_block(&mut self, last: bool) -> io::Result<()> {
        let keep = if last {
            0
        } else {
            self.pending.len().min(WINDOW)
        };
        let mut next = Vec::with_capacity(if last {
            0
        } else {
            keep + self.settings.block_size
        });
        next.extend_from_slice(&self.pending[self.pending.len() - keep..]);
        let buffer = std::mem::replace(&mut self.pending, next);
        let job = Job {
            seq: self.next_seq,
            buffer,
            dict_len: self.dict_len,
            last,
        };
        self.dict_len = keep;
        self.next_seq += 1;
        if self.pool.is_none() {
            let block = process_block(&self.settings, &job)?;
            self.ready.insert(job.seq, block);
            return self.write_ready();
        }
        while self.next_seq - 1 - self.next_write >= self.max_in_flight as u64 {
            self.receive_one()?;
        }
        self.submit(job)?;
        // Write whatever is already done without waiting.
        while let Some(done) = self
            .pool
            .as_ref()
            .and_then(|pool| pool.results.try_recv().ok())
        {
            self.accept(done)?;
        }
        Ok(())
    }

    fn submit(&self, job: Job) -> io::Result<()> {
        let sender = self
            .pool
            .as_ref()
            .and_then(|pool| pool.jobs.as_ref())
            .ok_or_else(|| io::Error::other("gzip worker pool is shut down"))?;
        sender
            .send(job)
            .map_err(|_| io::Error::other("gzip worker threads stopped"))
    }

    /// Waits for one block from the workers and writes every block now in order.
    fn receive_one(&mut self) -> io::Result<()> {
        let done = self
            .pool
            .as_ref()
            .ok_or_else(|| io::Error::other("gzip worker pool is shut down"))?
            .results
            .recv()
            .map_err(|_| io::Error::other("gzip worker threads stopped"))?;
        self.accept(done)
    }

    fn accept(&mut self, done: Done) -> io::Result<()> {
        self.ready.insert(done.seq, done.block?);
        self.write_ready()
    }

    /// Writes the blocks that are next in order, combining their CRCs.
    fn write_ready(&mut self) -> io::Result<()> {
        while let Some(block) = self.ready.remove(&self.next_write) {
            if !self.header_written {
                let header = gzip_header(self.settings.level);
                self.out.write_all(&header)?;
                self.written += header.len() as u64;
                self.header_written = true;
            }
            self.out.write_all(&block.bytes)?;
            if let Some(records) = &mut self.records {
                match (block.key, u32::try_from(block.bytes.len())) {
                    (Some(key), Ok(length)) => records.push(BlockRecord {
                        key,
                        offset: self.written,
                        length,
                        crc: block.crc.sum(),
                        raw_len: block.crc.amount(),
                    }),
                    // Cannot happen for mapped block sizes; a partial map would be wrong.
                    _ => self.records = None,
                }
            }
            self.written += block.bytes.len() as u64;
            self.reused_blocks += u64::from(block.reused);
            self.crc.combine(&block.crc);
            self.next_write += 1;
        }
        Ok(())
    }

    /// Waits until every block cut so far is written.
    fn drain_all(&mut self) -> io::Result<()> {
        while self.next_write < self.next_seq {
            self.receive_one()?;
        }
        Ok(())
    }
}

impl<W: Write> Write for ParallelGzEncoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = self.dict_len + self.settings.block_size - self.pending.len();
        let taken = room.min(buf.len());
        self.pending.extend_from_slice(&buf[..taken]);
        self.total_in += taken as u64;
        if self.pending.len() == self.dict_len + self.settings.block_size {
            self.cut_block(false)?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.drain_all()?;
        self.out.flush()
    }
}

#[cfg(test)]
#[path = "pgzip_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "pgzip_reuse_tests.rs"]
mod reuse_tests;
