"""Writing imported readings through the worker's Writer: batched COPY, exactly once (a re-import changes nothing)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from services.transfer.readers import ImportProblem, Reading
from services.worker.normalize.rows import Batch
from services.worker.storage import Writer, WriteResult
from shared.config import Settings
from shared.values import TimeWindow, ValueProblem

BATCH_ROWS = 5000


@dataclass
class ImportResult:
    read: int = 0
    stored: int = 0
    unchanged: int = 0
    variables_registered: int = 0

    def add(self, result: WriteResult) -> None:
        self.stored += result.stored
        self.unchanged += result.duplicates
        self.variables_registered += result.variables_registered


def import_readings(
    settings: Settings,
    dataset_id: int,
    readings: Iterable[Reading],
    progress: Callable[[int], None] | None = None,
    writer: Writer | None = None,
) -> ImportResult:
    """Store `readings` in dataset `dataset_id`; raises ImportProblem at the first bad one (those before are
    stored: importing the same file again is safe)."""
    window = TimeWindow(settings.reading_min_year, settings.reading_max_future_s)
    own = writer is None
    writer = writer or Writer(settings)
    result = ImportResult()
    batch = Batch()
    try:
        try:
            for reading in readings:
                try:
                    window.check(reading.time)
                    batch.add(
                        dataset_id,
                        reading.device,
                        reading.variable,
                        reading.tags,
                        reading.time,
                        reading.value,
                        reading.entry_id,
                    )
                except ValueProblem as problem:
                    raise ImportProblem(reading.line, str(problem)) from None
                if len(batch.rows) >= BATCH_ROWS:
                    _flush(writer, batch, result, progress)
                    batch = Batch()
        finally:  # also at a bad line: what came before it is stored, as the error message says
            if batch.rows:
                _flush(writer, batch, result, progress)
    finally:
        if own:
            writer.close()
    return result


def _flush(writer: Writer, batch: Batch, result: ImportResult, progress: Callable[[int], None] | None) -> None:
    written = writer.write(batch)
    if written.unknown_dataset:
        raise ImportProblem(0, "the dataset was deleted during the import")
    result.read += len(batch.rows)
    result.add(written)
    if progress is not None:
        progress(len(batch.rows))
