//! What a run keeps of the file earlier runs wrote. With a checkpointed source the file's length is
//! committed with each checkpoint: a resumed run cuts the file back to it (dropping what an interrupted
//! run wrote after it), a fresh `truncate` run empties it, and a file changed by someone else is kept or
//! refused (a JSON array cannot be extended). Without committed lengths, a `truncate` sink appends when
//! the source resumes.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};

use super::{FileSink, WriteMode};
use crate::kernel::checkpoint::{Checkpoints, output_unchanged};
use crate::sinks::{SinkContext, SinkError};
use crate::sources::file::FileFormat;

impl FileSink {
    /// Opens the file of a sink whose length is committed with checkpoints: cut back to the committed
    /// length when resuming (dropping what an interrupted run wrote after it), emptied when not, and
    /// registered with the checkpoints.
    pub(super) fn open_committed(&mut self, ctx: &SinkContext, commits: &Checkpoints) -> Result<(), SinkError> {
        let io = |what: &str, e| SinkError::io(format!("{what} `{}`", self.path.display()), e);
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| SinkError::io(format!("creating `{}`", dir.display()), e))?;
        }
        // A pipe or a device cannot be cut back: written as before, at least once. (Asked before
        // opening it: opening a named pipe for reading and writing would let its reader go on.)
        if std::fs::metadata(&self.path).is_ok_and(|m| !m.is_file()) {
            commits.untrack_output(&ctx.sink);
            return self.open_uncommitted(ctx);
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)
            .map_err(|e| io("opening", e))?;
        let len = file.metadata().map_err(|e| io("opening", e))?.len();
        let keep = self.length_to_keep(ctx, commits, len)?;
        file.set_len(keep).map_err(|e| io("cutting", e))?;
        file.seek(SeekFrom::Start(keep)).map_err(|e| io("opening", e))?;
        self.len = keep;
        self.header_written = keep > 0;
        if self.format == FileFormat::Json {
            if keep == 0 {
                file.write_all(b"[").map_err(|e| io("writing", e))?;
                self.len = 1;
            }
            // Elements follow a comma once there is one.
            self.written = u64::from(self.len > 1);
        }
        let handle = file.try_clone().map_err(|e| io("opening", e))?;
        commits
            .open_output(&ctx.sink, &self.path, handle, self.len)
            .map_err(|e| SinkError { message: format!("sink `{}`: {e}", ctx.sink), retryable: e.is_retryable() })?;
        self.writer = Some(BufWriter::with_capacity(1 << 20, file));
        Ok(())
    }

    /// How much of the file (`len` bytes now) this run keeps.
    fn length_to_keep(&self, ctx: &SinkContext, commits: &Checkpoints, len: u64) -> Result<u64, SinkError> {
        let path = self.path.display();
        if self.mode == WriteMode::Truncate && !ctx.resumed {
            return Ok(0);
        }
        let Some(saved) = commits.saved_output(&ctx.sink) else {
            // No committed length (a new sink, or a checkpoint of an older version): added to.
            if self.format == FileFormat::Json && len > 0 {
                return Err(self.cannot_extend());
            }
            return Ok(len);
        };
        if output_unchanged(&self.path, &saved).unwrap_or(false) {
            if len == saved.len || self.only_closing_bracket_after(saved.len, len) {
                return Ok(saved.len);
            }
            if saved.closed {
                // The last run ended cleanly: what follows was added by someone else, and is kept.
                if self.format == FileFormat::Json {
                    return Err(self.changed_json(saved.len));
                }
                tracing::warn!(
                    "`{path}` grew by {} bytes since the last run ended, not written by Weir: they are kept, \
                     new records follow them",
                    len - saved.len
                );
                return Ok(len);
            }
            tracing::warn!(
                "`{path}`: cutting {} bytes written after the last checkpoint by an interrupted run; their \
                 records are read and written again",
                len - saved.len
            );
            return Ok(saved.len);
        }
        if self.format == FileFormat::Json {
            return Err(self.changed_json(saved.len));
        }
        tracing::warn!(
            "`{path}` changed since the last run (it is shorter than the committed length {}, or its bytes \
             before it differ): it is not cut back, new records are added to its end",
            saved.len
        );
        Ok(len)
    }

    /// True for a JSON array whose bytes after `committed` (of `len`) are the closing bracket a
    /// finished run wrote: cut off to go on with the array, not worth a warning.
    fn only_closing_bracket_after(&self, committed: u64, len: u64) -> bool {
        use std::os::unix::fs::FileExt;
        const CLOSE: &[u8] = b"\n]\n";
        if self.format != FileFormat::Json || len - committed != CLOSE.len() as u64 {
            return false;
        }
        let mut tail = [0u8; 3];
        File::open(&self.path).and_then(|f| f.read_exact_at(&mut tail, committed)).is_ok() && tail == CLOSE
    }

    fn changed_json(&self, committed: u64) -> SinkError {
        SinkError {
            message: format!(
                "`{}` changed since the last run (it differs from what Weir wrote, {committed} bytes), so the \
                 JSON array cannot be extended; move it away, or re-read everything with `weir run --from-start`",
                self.path.display()
            ),
            retryable: false,
        }
    }

    fn cannot_extend(&self) -> SinkError {
        SinkError {
            message: format!(
                "the source resumes from a checkpoint, and `{}` holds a JSON array that cannot be extended \
                 (no committed length for it); use `format: ndjson`, or re-read everything with `weir run \
                 --from-start`",
                self.path.display()
            ),
            retryable: false,
        }
    }

    /// A sink without committed lengths: a `truncate` sink appends when the source resumes.
    pub(super) fn open_uncommitted(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        self.resumed = ctx.resumed;
        // What earlier runs delivered is already in the file: truncating it would lose it.
        if ctx.resumed && self.mode == WriteMode::Truncate {
            if self.format == FileFormat::Json {
                return Err(self.cannot_extend());
            }
            self.mode = WriteMode::Append;
        }
        Ok(())
    }
}
