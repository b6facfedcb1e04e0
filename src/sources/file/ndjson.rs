//! NDJSON on every core: a reader thread cuts the file into chunks of lines; parse threads take the
//! next chunk whenever they are free, parse it and run the source's fused steps on it; the calling
//! thread sends the finished batches on in input order.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use super::ResumeAt;
use super::lines::{Line, for_each_ndjson_line, parse_line};
use crate::kernel::channel::Batch;
use crate::sources::emit::Emitter;

/// How many threads parse NDJSON lines: one per core the process may run on (up to 4).
fn parse_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(4)
}

/// Reads an NDJSON file (positioned at `resume`). With one core, line by line on this thread. With
/// `hold_back`, an unterminated last line is not read: its length is returned (see
/// [`for_each_ndjson_line`]).
pub(super) fn read_ndjson(
    path: &Path,
    stream: u32,
    resume: ResumeAt,
    hold_back: bool,
    emitter: &mut Emitter<'_>,
    file: File,
) -> std::io::Result<Option<u64>> {
    let projection = emitter.ctx.projection.as_ref();
    let threads = parse_threads();
    if threads < 2 {
        return for_each_ndjson_line(file, stream, resume, hold_back, |line| {
            emitter.push(parse_line(projection, path, line))
        });
    }
    let ctx = emitter.ctx;
    let chunk_size = ctx.batch_size.max(1);
    let remaining = emitter.limit.map(|l| l.saturating_sub(emitter.emitted));
    // At most `window` chunks are between the reader and the emitting side at a time (queued, being
    // parsed, or parsed but waiting for an earlier one), which bounds memory when one thread lags.
    let window = threads * 4;
    let (read, result) = std::thread::scope(|scope| {
        let (token_tx, tokens) = std::sync::mpsc::sync_channel::<()>(window);
        for _ in 0..window {
            let _ = token_tx.send(());
        }
        // One queue of chunks for all parse threads: whichever is free takes the next chunk, so a thread
        // that the OS holds back does not hold the others back.
        let (chunk_tx, chunks) = std::sync::mpsc::sync_channel::<(usize, Vec<Line>)>(threads);
        let chunks = Arc::new(Mutex::new(chunks));
        let (finished_tx, finished) = std::sync::mpsc::sync_channel::<(usize, Vec<Batch>)>(window);
        for _ in 0..threads {
            let mut worker = emitter.for_parse_thread();
            let (chunks, finished_tx) = (Arc::clone(&chunks), finished_tx.clone());
            scope.spawn(move || {
                // Should a parse thread panic, the emitting side stops waiting for its chunk (and the
                // panic is raised again when the scope ends).
                let _panic = PanicNotice(finished_tx.clone());
                loop {
                    let next = chunks.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok((k, chunk)) = next else { break };
                    for line in chunk {
                        if !worker.push(parse_line(projection, path, line)) {
                            break;
                        }
                    }
                    worker.send();
                    let batches = worker.take_finished();
                    if finished_tx.send((k, batches)).is_err() {
                        break;
                    }
                }
            });
        }
        // Only the parse threads hold these now: once they all stop, the reader's sends fail.
        drop((chunks, finished_tx));
        let reader = scope.spawn(move || {
            let mut chunk = Vec::with_capacity(chunk_size);
            // A chunk closes at `batch_size` lines or `batch_bytes` bytes: the window of chunks in
            // flight then bounds memory in bytes, whatever the size of a line.
            let mut chunk_bytes = 0usize;
            let (mut k, mut read) = (0, 0u64);
            let send = |k: usize, chunk: Vec<Line>| tokens.recv().is_ok() && chunk_tx.send((k, chunk)).is_ok();
            let result = for_each_ndjson_line(file, stream, resume, hold_back, |line| {
                if ctx.stop.load(Ordering::Relaxed) || remaining.is_some_and(|r| read >= r) {
                    return false;
                }
                read += 1;
                chunk_bytes += line.whole.len();
                chunk.push(line);
                if chunk.len() < chunk_size && chunk_bytes < ctx.batch_bytes {
                    return true;
                }
                chunk_bytes = 0;
                k += 1;
                send(k - 1, std::mem::replace(&mut chunk, Vec::with_capacity(chunk_size)))
            });
            if !chunk.is_empty() {
                send(k, chunk);
            }
            (read, result)
        });
        // Results arrive in any order; they are sent on in chunk order.
        let mut waiting = std::collections::BTreeMap::new();
        let mut next = 0;
        'emit: for (k, batches) in &finished {
            if k == PanicNotice::CHUNK {
                break;
            }
            waiting.insert(k, batches);
            while let Some(batches) = waiting.remove(&next) {
                for batch in batches {
                    if !ctx.output.blocking_send(batch) {
                        break 'emit;
                    }
                }
                next += 1;
                let _ = token_tx.send(());
            }
        }
        drop((finished, token_tx));
        reader.join().unwrap_or_else(|_| (0, Err(std::io::Error::other("the NDJSON reader thread panicked"))))
    });
    emitter.emitted += read;
    result
}

/// Sends a parse thread's panic to the emitting side, as a result for chunk [`PanicNotice::CHUNK`].
struct PanicNotice(std::sync::mpsc::SyncSender<(usize, Vec<Batch>)>);

impl PanicNotice {
    const CHUNK: usize = usize::MAX;
}

impl Drop for PanicNotice {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.0.send((Self::CHUNK, Vec::new()));
        }
    }
}
