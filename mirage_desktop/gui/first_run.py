"""First run: the models Mirage needs (size, licence), downloaded on a worker thread with per-file and
total progress, cancel and resume; the offline alternative; and the one-time responsible-use notice."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mirage_desktop.gui.workers import TaskRunner
from mirage_desktop.models import ModelStore
from mirage_desktop.models.manifest import ModelEntry

_SCALE = 1024  # progress bars hold ints: count KiB so 500 MB files fit


class DownloadCancelled(Exception):
    """Raised from the progress callback: the store keeps the .part file for resuming."""


@dataclass(frozen=True, slots=True)
class ModelRow:
    id: str
    file: str
    size: int | None
    licence: str
    description: str
    present: bool
    state: str


def megabytes(size: int | None) -> str:
    return "size unknown" if size is None else f"{size / 1e6:,.0f} MB"


def required_entries(store: ModelStore) -> list[ModelEntry]:
    return [e for e in store.manifest if e.required]


def model_rows(store: ModelStore, entries: Sequence[ModelEntry]) -> list[ModelRow]:
    """Status of each model; may hash large files the first time, so call it off the GUI thread."""
    rows = []
    for e in entries:
        st = store.status(e.id)
        rows.append(ModelRow(e.id, e.file, e.size, e.licence, e.description, st.usable, st.state))
    return rows


class _Downloader(QObject):
    progress = Signal(str, object, object)  # id, done bytes, total bytes
    finished_one = Signal(str, str)  # id, error message ("" = ok)
    finished = Signal(bool)  # cancelled

    def __init__(self, store: ModelStore, ids: list[str]) -> None:
        super().__init__()
        self.store = store
        self.ids = ids
        self.cancel = threading.Event()

    def run(self) -> None:  # worker thread
        for model_id in self.ids:
            if self.cancel.is_set():
                break

            def report(done: int, total: int, model_id: str = model_id) -> None:
                if self.cancel.is_set():
                    raise DownloadCancelled()
                self.progress.emit(model_id, done, total)

            try:
                self.store.download(model_id, progress=report)
            except DownloadCancelled:
                break
            except Exception as exc:  # the store's errors are worded for the user (mirrors tried, etc.)
                self.finished_one.emit(model_id, str(exc))
                continue
            self.finished_one.emit(model_id, "")
        self.finished.emit(self.cancel.is_set())


class ModelsDialog(QDialog):
    """Lists required models and fetches the missing ones; closing it never loses a partial download."""

    def __init__(self, store: ModelStore, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Mirage: models")
        self.setMinimumWidth(720)
        self.store = store
        self._runner = runner
        self.entries = required_entries(store)
        self.rows: dict[str, ModelRow] = {}
        self.bars: dict[str, QProgressBar] = {}
        self.states: dict[str, QLabel] = {}
        self._done_bytes: dict[str, int] = {}
        self._job: _Downloader | None = None

        intro = QLabel(
            "<b>Mirage needs these models to swap faces.</b> They are downloaded once from their publishers' "
            "mirrors and checked against published checksums. Please read each licence: the InsightFace "
            "models are for non-commercial research use only."
        )
        intro.setWordWrap(True)
        grid = QGridLayout()
        for col, title in enumerate(("Model", "Size", "Licence", "Status", "")):
            head = QLabel(f"<b>{title}</b>")
            grid.addWidget(head, 0, col)
        for r, e in enumerate(self.entries, start=1):
            name = QLabel(f"{e.file}<br><span style='font-size:small'>{e.description}</span>")
            name.setWordWrap(True)
            licence = QLabel(e.licence)
            licence.setWordWrap(True)
            state = QLabel("checking…")
            bar = QProgressBar()
            bar.setRange(0, max(1, (e.size or 1) // _SCALE))
            bar.setValue(0)
            bar.setMinimumWidth(120)
            grid.addWidget(name, r, 0)
            grid.addWidget(QLabel(megabytes(e.size)), r, 1)
            grid.addWidget(licence, r, 2)
            grid.addWidget(state, r, 3)
            grid.addWidget(bar, r, 4)
            self.states[e.id] = state
            self.bars[e.id] = bar
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(2, 3)

        self.total = QProgressBar()
        self.total.setFormat("Total %p%")
        total_size = sum(e.size or 0 for e in self.entries)
        self.total.setRange(0, max(1, total_size // _SCALE))
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        offline = QLabel(
            "<b>No internet on this computer?</b> Download the files elsewhere, then either put them in the "
            f"models folder (<code>{store.models_dir}</code>) or run "
            "<code>mirage-cli models add PATH</code>; or use “Add a file I have…” below."
        )
        offline.setWordWrap(True)
        offline.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.download_button = QPushButton("Download")
        self.download_button.setObjectName("primary")
        self.download_button.clicked.connect(self.start_download)
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.clicked.connect(self.cancel_download)
        self.cancel_button.setEnabled(False)
        self.add_button = QPushButton("Add a file I have…")
        self.add_button.clicked.connect(self._add_clicked)
        folder = QPushButton("Open models folder")
        folder.clicked.connect(self._open_folder)
        self.close_button = QPushButton("Later")
        self.close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(folder)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.download_button)
        buttons.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(grid)
        layout.addWidget(self.total)
        layout.addWidget(self.message)
        layout.addWidget(offline)
        layout.addLayout(buttons)
        self.refresh()

    # -- status ------------------------------------------------------------------------------------
    def refresh(self) -> None:
        store, entries = self.store, self.entries
        self._runner.submit(lambda: model_rows(store, entries), on_done=self._show_rows)

    def _show_rows(self, rows: list[ModelRow]) -> None:
        for row in rows:
            self.rows[row.id] = row
            self.states[row.id].setText({True: "✔ ready"}.get(row.present, "missing"))
            if row.present:
                bar = self.bars[row.id]
                bar.setValue(bar.maximum())
                self._done_bytes[row.id] = row.size or 0
        self._update_total()
        missing = self.missing
        self.download_button.setEnabled(bool(missing) and self._job is None)
        if not missing:
            self.message.setText("All models are ready.")
            self.close_button.setText("Done")

    @property
    def missing(self) -> list[str]:
        return [i for i, r in self.rows.items() if not r.present]

    def _update_total(self) -> None:
        self.total.setValue(min(self.total.maximum(), sum(self._done_bytes.values()) // _SCALE))

    # -- download ----------------------------------------------------------------------------------
    @Slot()
    def start_download(self) -> None:
        ids = self.missing
        if not ids or self._job is not None:
            return
        job = _Downloader(self.store, ids)
        job.progress.connect(self._progress)
        job.finished_one.connect(self._finished_one)
        job.finished.connect(self._finished)
        self._job = job
        self.download_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.message.setText("Downloading… you can cancel; a later download resumes where this one stopped.")
        for model_id in ids:
            self.states[model_id].setText("waiting")
        self._runner.submit(job.run)

    @Slot()
    def cancel_download(self) -> None:
        if self._job is not None:
            self._job.cancel.set()
            self.cancel_button.setEnabled(False)
            self.message.setText("Cancelling…")

    def _progress(self, model_id: str, done: int, total: int) -> None:
        bar = self.bars[model_id]
        if total:
            bar.setRange(0, max(1, total // _SCALE))
        bar.setValue(min(bar.maximum(), done // _SCALE))
        self.states[model_id].setText(f"{done / 1e6:,.0f} MB")
        self._done_bytes[model_id] = done
        self._update_total()

    def _finished_one(self, model_id: str, error: str) -> None:
        self.states[model_id].setText("⚠ failed" if error else "✔ ready")
        if error:
            self.message.setText(error)

    def _finished(self, cancelled: bool) -> None:
        self._job = None
        self.cancel_button.setEnabled(False)
        if cancelled:
            self.message.setText("Download paused. Press Download to resume from where it stopped.")
        self.refresh()

    @property
    def downloading(self) -> bool:
        return self._job is not None

    # -- offline -----------------------------------------------------------------------------------
    def _add_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Add a model file", "", "ONNX models (*.onnx)")
        if path:
            self.add_file(Path(path))

    def add_file(self, path: Path) -> None:
        store = self.store
        self.message.setText(f"Checking {path.name}…")
        self._runner.submit(
            lambda: store.add(path),
            on_done=lambda target: (self.message.setText(f"Added {Path(target).name}."), self.refresh()),
            on_failed=lambda exc: self.message.setText(f"⚠ {exc}"),
        )

    def _open_folder(self) -> None:
        self.store.models_dir.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.store.models_dir)))

    def reject(self) -> None:
        self.cancel_download()
        super().reject()


class ResponsibleUseDialog(QDialog):
    """Shown once: consent of the people whose face or voice is used, and the optional visible label."""

    def __init__(self, ai_label: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Using Mirage responsibly")
        self.setMinimumWidth(520)
        text = QLabel(
            "<p><b>Only wear a face or voice with that person's consent.</b> Pretending to be someone else "
            "to deceive, defraud or harass is harmful and, in many places, illegal.</p>"
            "<p>Tell the people you talk to when your video or voice is altered. Mirage can stamp a small "
            "visible <i>AI-altered</i> label on the video it publishes.</p>"
        )
        text.setWordWrap(True)
        self.label_box = QCheckBox("Stamp “AI-altered” on my video")
        self.label_box.setChecked(ai_label)
        ok = QPushButton("I understand")
        ok.setObjectName("primary")
        ok.clicked.connect(self.accept)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(self.label_box)
        layout.addWidget(ok, 0, Qt.AlignmentFlag.AlignRight)
