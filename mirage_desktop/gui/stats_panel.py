"""Live numbers: fps, capture→output latency, per-stage time as a small stacked chart, drops, voice."""

from __future__ import annotations

from collections import deque

from PySide6.QtCore import QPointF, QRectF, Qt, Slot
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QVBoxLayout, QWidget

from mirage_desktop.engine.metrics import MetricsSnapshot
from mirage_desktop.voice.metrics import VoiceMetrics

HISTORY = 120  # samples: 30 s at the controller's 4 Hz
#: processors whose total is also reported in finer stages: drawing both would count it twice
COMPOSITE_STAGES = {"face_swap": "face."}
STAGE_COLORS = ("#7c5cff", "#30c46c", "#e3b341", "#e5484d", "#3ba7f5", "#d16bd6", "#8b8f99", "#f08c3b")


class StageChart(QWidget):
    """Stacked areas of per-stage milliseconds over time, with the frame budget as a dashed line."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(260, 170)
        self.history: deque[dict[str, float]] = deque(maxlen=HISTORY)
        self.budget_ms = 1000.0 / 30
        self._colors: dict[str, QColor] = {}

    def add(self, stage_ms: dict[str, float], fps: float) -> None:
        stage_ms = {
            name: ms
            for name, ms in stage_ms.items()
            if not (name in COMPOSITE_STAGES and any(k.startswith(COMPOSITE_STAGES[name]) for k in stage_ms))
        }
        self.history.append(stage_ms)
        if fps > 0:
            self.budget_ms = 1000.0 / fps
        for name in stage_ms:
            if name not in self._colors:
                self._colors[name] = QColor(STAGE_COLORS[len(self._colors) % len(STAGE_COLORS)])
        self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        painter.fillRect(self.rect(), pal.base())
        names = [n for n in self._colors if any(n in s for s in self.history)]
        legend = self._legend_layout(names)
        legend_h = (max((row for _, row, _ in legend), default=-1) + 1) * 16
        plot = QRectF(self.rect()).adjusted(36, 6, -6, -8 - legend_h)
        # scale to the 90th percentile, not the maximum: one slow first frame (model warm-up)
        # would otherwise flatten everything after it; taller spikes are clipped at the top
        totals = sorted(sum(s.values()) for s in self.history)
        typical = totals[int(0.9 * (len(totals) - 1))] if totals else 0.0
        peak = max(typical * 1.3, self.budget_ms * 1.2, 1.0)
        painter.setClipRect(self.rect())
        painter.setPen(pal.color(pal.ColorRole.PlaceholderText))
        painter.drawText(QRectF(0, plot.top() - 6, 32, 14), Qt.AlignmentFlag.AlignRight, f"{peak:.0f}")
        painter.drawText(QRectF(0, plot.bottom() - 8, 32, 14), Qt.AlignmentFlag.AlignRight, "0 ms")

        def y(value: float) -> float:
            return plot.bottom() - plot.height() * min(value, peak) / peak

        n = len(self.history)
        if n >= 2:
            step = plot.width() / (HISTORY - 1)
            x0 = plot.right() - (n - 1) * step
            base = [0.0] * n
            for name in names:
                top = [b + s.get(name, 0.0) for b, s in zip(base, self.history, strict=True)]
                path = QPainterPath(QPointF(x0, y(base[0])))
                for i, v in enumerate(top):
                    path.lineTo(x0 + i * step, y(v))
                for i in range(n - 1, -1, -1):
                    path.lineTo(x0 + i * step, y(base[i]))
                path.closeSubpath()
                color = QColor(self._colors[name])
                color.setAlpha(170)
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(color)
                painter.drawPath(path)
                base = top
        pen = QPen(QColor("#e5484d"), 1, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.drawLine(QPointF(plot.left(), y(self.budget_ms)), QPointF(plot.right(), y(self.budget_ms)))
        top = self.height() - legend_h
        painter.setPen(pal.color(pal.ColorRole.Text))
        for name, row, x in legend:
            ly = top + row * 16
            painter.fillRect(QRectF(x, ly + 3, 9, 9), self._colors[name])
            painter.drawText(QPointF(x + 12, ly + 12), _short(name))
        painter.end()

    def _legend_layout(self, names: list[str]) -> list[tuple[str, int, float]]:
        """(name, row, x) for each legend entry, wrapping to the widget's width."""
        metrics = self.fontMetrics()
        out, row, x = [], 0, 36.0
        for name in names:
            width = 20 + metrics.horizontalAdvance(_short(name))
            if x + width > self.width() - 4 and x > 36:
                row, x = row + 1, 36.0
            out.append((name, row, x))
            x += width
        return out


def _short(stage: str) -> str:
    return stage.removeprefix("face.").replace("_", " ")


#: how the face stages (FaceSwapProcessor's counters["face_stages"]) read in the window
STAGE_WORDS = {
    "swap": "swap",
    "mask:ellipse": "ellipse mask",
    "mask:box": "box mask",
    "mask:mouth": "mouth",
    "mask:occlusion": "occlusion",
    "colour": "colour match",
    "sharpen": "sharpen",
    "opacity": "opacity",
}
ENHANCER_WORDS = {
    "gfpgan_1.4": "GFPGAN 1.4",
    "gpen_bfr_256": "GPEN-256",
    "gpen_bfr_512": "GPEN-512",
    "codeformer": "CodeFormer",
}


def describe_stages(counters: dict) -> str:
    """The face stages that run on each face, e.g. "swap → GPEN-256 → ellipse mask → paste: detail".

    "" when the face stage is not loaded. An enhancer that is still loading or switched itself off
    says so, since the picture does not show it yet.
    """
    stages = counters.get("face_stages") or []
    if not stages or not counters.get("face_providers"):
        return ""
    words = []
    state = str(counters.get("enhancer_state", "") or "")
    for stage in stages:
        kind, _, what = str(stage).partition(":")
        if kind == "enhance":
            word = ENHANCER_WORDS.get(what, what)
            if state.startswith("loading"):
                word += " (loading)"
            elif state != "on":
                word += " (off)"
        elif kind == "paste":
            word = f"paste: {what}"
        else:
            word = STAGE_WORDS.get(stage, stage)
        words.append(word)
    return " → ".join(words)


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} ms"


class StatsPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.fps = QLabel("–")
        self.latency = QLabel("–")
        self.dropped = QLabel("–")
        self.faces = QLabel("–")
        self.provider = QLabel("–")
        self.source = QLabel("–")
        self.stages = QLabel("–")
        self.stages.setWordWrap(True)
        self.enhancer = QLabel("–")
        self.refresh = QLabel("–")
        self.refresh.setWordWrap(True)
        self.voice_latency = QLabel("–")
        self.voice_xruns = QLabel("–")
        self.voice_load = QLabel("–")
        self.chart = StageChart()
        video = QGroupBox("Video")
        form = QFormLayout(video)
        form.addRow("Frames in / out", self.fps)
        form.addRow("Latency p50 / p95", self.latency)
        form.addRow("Dropped / repeated", self.dropped)
        form.addRow("Faces swapped", self.faces)
        form.addRow("Runs on", self.provider)
        form.addRow("Source", self.source)
        form.addRow("Face stages", self.stages)
        form.addRow("Enhancer", self.enhancer)
        form.addRow("Swap refresh", self.refresh)
        form.addRow(self.chart)
        voice = QGroupBox("Voice")
        vform = QFormLayout(voice)
        vform.addRow("Latency", self.voice_latency)
        vform.addRow("Converter load", self.voice_load)
        vform.addRow("Xruns / dropped", self.voice_xruns)
        layout = QVBoxLayout(self)
        layout.addWidget(video)
        layout.addWidget(voice)
        layout.addStretch(1)
        self.updates = 0

    @Slot(object)
    def show_video(self, snap: MetricsSnapshot) -> None:
        self.updates += 1
        self.fps.setText(f"{snap.fps_in:.1f} / {snap.fps_out:.1f} fps")
        self.latency.setText(f"{_ms(snap.latency_ms_p50)} / {_ms(snap.latency_ms_p95)}")
        self.dropped.setText(f"{snap.dropped_total} / {snap.frames_repeated}")
        counters = snap.processors
        self.faces.setText(
            f"{counters.get('swap_faces_last', 0)} now, {counters.get('total_faces_swapped', 0)} total"
        )
        providers = counters.get("face_providers") or []
        self.provider.setText(
            ", ".join(p.removesuffix("ExecutionProvider") for p in providers) or "– (face swap not loaded)"
        )
        self.source.setText(snap.source or "–")
        _set_text(self.stages, describe_stages(counters) or "–")
        _set_text(self.enhancer, _enhancer(counters))
        _set_text(self.refresh, describe_refresh(counters))
        self.chart.add(snap.stage_ms, snap.fps_out or snap.fps_in)

    @Slot(object)
    def show_voice(self, m: VoiceMetrics) -> None:
        self.voice_latency.setText(_voice_latency(m))
        self.voice_latency.setToolTip(
            f"Measured live from the engine's queues and the audio server's own figures; "
            f"worst {m.live_latency_ms_max:.0f} ms, estimate {m.estimated_latency_ms:.0f} ms.\n"
            "Drift is the last 5 s minus the first 5 s after start-up and should stay near 0."
            if m.live_latency_ms > 0
            else "Not measured yet: block + crossfade + look-ahead + buffers + device latencies."
        )
        self.voice_load.setText(f"{m.ratio_last:.2f} × real time ({m.runtime_ms_last:.1f} ms per block)")
        xruns = f"{m.xruns} / {m.dropped_blocks}"
        if m.stream_restarts or m.stream_errors:
            xruns += f" · {m.stream_restarts} restarts, {m.stream_errors} stream errors"
        self.voice_xruns.setText(xruns)

    def clear_voice(self) -> None:
        for label in (self.voice_latency, self.voice_xruns, self.voice_load):
            label.setText("–")
            label.setToolTip("")


def describe_refresh(counters: dict) -> str:
    """Like "own thread · 1.4 swaps/s · face shown 0.6 s old · 3 late frames dropped"."""
    mode = str(counters.get("swap_mode", "") or "")
    if not mode:
        return "–"
    parts = ["every frame" if mode == "every frame" else ("own thread" if "own thread" in mode else mode)]
    hz = counters.get("swap_refresh_hz")
    if hz:
        parts.append(f"{float(hz):.1f} swaps/s")
    age = counters.get("swap_age_ms")
    if age and mode != "every frame":
        parts.append(f"face shown {float(age) / 1000.0:.1f} s old, mouth live")
    late = int(counters.get("late_dropped", 0) or 0)
    if late:
        parts.append(f"{late} late frames dropped (lip sync)")
    return " · ".join(parts)


def _set_text(label: QLabel, text: str) -> None:
    if label.text() != text:  # a wrapped label re-lays out on every setText
        label.setText(text)


def _enhancer(counters: dict) -> str:
    """Like "GPEN-256 · 4.2 ms · 310 frames", or the state when it is not running."""
    name = str(counters.get("enhancer", "") or "")
    state = str(counters.get("enhancer_state", "") or "")
    if not name:
        return "off" if state in ("", "off") else state.split(":", 1)[0]
    text = f"{ENHANCER_WORDS.get(name, name)} · {float(counters.get('enhancer_ms', 0.0)):.1f} ms"
    text += f" · {int(counters.get('enhanced_frames', 0))} frames"
    fidelity = counters.get("enhancer_fidelity")
    return text + (f" · fidelity {float(fidelity):.2f}" if fidelity is not None else "")


def _voice_latency(m: VoiceMetrics) -> str:
    """Like "62 ms measured (drift +0 ms), block 10 ms · pulse"; the estimate until one is measured."""
    if m.live_latency_ms > 0:
        # round() first: a drift of -0.3 ms reads "+0", not "-0"
        text = f"{m.live_latency_ms:.0f} ms measured (drift {round(m.latency_drift_ms):+d} ms)"
    else:
        text = f"{m.estimated_latency_ms:.0f} ms estimated"
    text += f", block {m.block_ms:.0f} ms"
    return f"{text} · {m.backend}" if m.backend else text
