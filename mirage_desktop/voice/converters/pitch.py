"""Model-free voice changer: pitch shift and formant shift, independently, by streaming TD-PSOLA.

Pitch-synchronous overlap-add on one continuous timeline:

1. **Period track**: YIN on a causally decimated (~8 kHz) copy of the input, one frame per 5 ms, each
   frame ending at the newest sample.
2. **Pitch marks**: one analysis mark per period. The first voiced mark sits on the period's largest
   peak; each next one is searched within ±20 % of the tracked period, at the offset where the period
   around it best matches the period around the previous mark (normalised cross-correlation, refined
   to a fraction of a sample). So marks stay on the same point of every cycle instead of hopping between
   peaks, and the measured mark spacing *is* the local period. A weak match ends the voiced run.
   Unvoiced stretches get marks every 5 ms.
3. **Synthesis**: output marks advance by (local period / ratio); each takes the Hann-windowed two-period
   grain around the nearest analysis mark, so the waveform of each cycle — the formants — is kept while
   the cycle rate changes. Reading the grain faster or slower (factor ``formant``) scales the envelope
   without touching the pitch. Unvoiced output marks coincide with the analysis marks (5 ms Hann grains
   at 50 % overlap sum to one: exact for formant 1).

Why one continuous timeline: the engine hands the converter overlapping windows and splices the newest
block with SOLA. The previous design re-synthesised every window from scratch, so each 20 ms block
started its grains at an arbitrary phase, and SOLA's 10 ms search cannot re-align cycles longer than
10 ms (a 100 Hz voice moved down 7 semitones has 15 ms cycles). Measured on espeak and jfk.flac it
landed up to ~45 cents off (700 at 73 Hz −7 st) and lost 20-80 % of the voiced frames. Here the converter
keeps its own input/output history and emits each output sample once; consecutive windows return the
same samples for the same instants, so SOLA's best offset stays at 0 and its crossfades join identical
audio. Where a window sits in the stream is found by matching it against the previous one (windows are
exact copies of the pipeline's history), so skipped blocks and block-size changes are followed.

Latency: an output sample is final once the two grains around it are placed, i.e. about two periods of
input after it (28.6 ms at the 70 Hz floor). ``lookahead_s`` (20 ms) plus the pipeline's 10 ms SOLA
search window cover that; the rest of the window end is returned provisional and discarded by the
pipeline. A phase vocoder would need a long window instead (pedalboard's streaming PitchShift adds 1-2 s).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

from mirage_desktop.voice.converters.base import VoiceConverter
from mirage_desktop.voice.errors import VoiceError

MAX_SEMITONES = 24.0
FORMANT_RANGE = (0.5, 2.0)

_ANALYSIS_RATE = 8000
_HISTORY_S = 1.0
_UNVOICED_S = 0.005
_YIN_WINDOW_S = 0.012
_YIN_HOP_S = 0.005
#: a mark whose cycle matches the previous one worse than this ends the voiced run
_MIN_NCC = 0.5
#: ... and where the tracker says unvoiced (or jumps), the chain goes on only above this
_KEEP_NCC = 0.7
_SEARCH = 0.2
_PROBE = 64
#: how far past an unvoiced mark the tracker is consulted for a voice onset
_ONSET_AHEAD_S = 0.008


class PitchShiftConverter(VoiceConverter):
    name = "pitch"
    #: keeps its own history: the window's left context is not used
    context_s = 0.0
    lookahead_s = 0.025

    def __init__(
        self,
        semitones: float = 0.0,
        formant: float = 1.0,
        sample_rate: int = 48000,
        fmin: float = 70.0,
        fmax: float = 500.0,
        voicing_threshold: float = 0.45,
    ) -> None:
        if not math.isfinite(semitones) or abs(semitones) > MAX_SEMITONES:
            raise VoiceError(
                f"semitones must be between -{MAX_SEMITONES:g} and {MAX_SEMITONES:g}, got {semitones}"
            )
        lo, hi = FORMANT_RANGE
        if not math.isfinite(formant) or not lo <= formant <= hi:
            raise VoiceError(f"formant factor must be between {lo} and {hi} (1.0 = unchanged), got {formant}")
        self.semitones = float(semitones)
        self.formant = float(formant)
        self.ratio = 2.0 ** (self.semitones / 12.0)
        self.sample_rate = sample_rate
        self.fmin = fmin
        self.fmax = fmax
        self.voicing_threshold = voicing_threshold
        self._windows: dict[tuple[int, int], np.ndarray] = {}
        self.start(sample_rate)

    # --- set-up ---------------------------------------------------------------------------------------

    def start(self, sample_rate: int) -> None:
        sr = self._sr = sample_rate
        self._dec = max(1, sample_rate // _ANALYSIS_RATE)
        sr_a = sr / self._dec
        taps = 8 * self._dec + 1
        self._lp = signal.firwin(taps, 0.8 / self._dec) if self._dec > 1 else np.ones(1)
        self._lp_delay = (taps - 1) // 2  # samples at the full rate
        self._lp_zi = np.zeros(len(self._lp) - 1)
        self._win = int(_YIN_WINDOW_S * sr_a)
        self._maxlag = int(sr_a / self.fmin) + 1
        self._minlag = max(2, int(sr_a / self.fmax))
        self._frame = self._win + self._maxlag
        self._yin_hop = max(1, int(_YIN_HOP_S * sr_a))
        self._nfft = 1 << (2 * self._frame).bit_length()
        self._unvoiced = max(2, int(_UNVOICED_S * sr))
        self._onset_ahead = int(_ONSET_AHEAD_S * sr)
        self._max_period = sr / self.fmin
        # OLA of two-cycle Hann grains spaced period/ratio apart: louder by about sqrt(ratio) when raised
        self._voiced_gain = 1.0 / math.sqrt(max(self.ratio, 1.0))
        # Lowered voices: grains further apart than a cycle. A full cycle before the mark would carry the
        # previous cycle's ringing, a copy of the *old* period inside each new one; rise faster instead.
        self._rise = min(1.0, max(0.25, 2.0 * self.ratio - 1.0))
        self._fall = 1.0
        cap = int(_HISTORY_S * sr)
        self._cap = cap
        self._x = np.zeros(cap, dtype=np.float32)  # input, absolute index = self._base + i
        self._y = np.zeros(cap, dtype=np.float64)  # output accumulator on the same timeline
        self._xd = np.zeros(int(_HISTORY_S * sr_a), dtype=np.float64)  # decimated input
        self._base = 0
        self._end = 0  # absolute index one past the newest input sample
        self._dbase = 0
        self._dend = 0  # decimated samples kept so far (absolute count)
        self._next_frame_end = self._frame  # decimated index where the next YIN frame ends
        self._track_t: list[float] = []  # frame centres (full-rate absolute)
        self._track_p: list[float] = []  # period (full-rate samples), 0 = unvoiced
        self._marks: list[int] = []
        self._mark_frac: list[float] = []  # sub-sample part of each mark (voiced chains)
        self._mark_period: list[float] = []  # spacing from the previous mark; 0 = unvoiced
        self._out_pos = 0.0  # next output mark (absolute, fractional)
        self._last_centre = -(10**9)  # where the last output grain was centred
        self._prev_probe: np.ndarray | None = None
        self._last_shift = 0
        self._frames = 0
        self._voiced_frames = 0
        self._resyncs = 0

    def counters(self) -> dict[str, float]:
        return {
            "voiced_fraction": round(self._voiced_frames / self._frames, 3) if self._frames else 0.0,
            "resyncs": self._resyncs,
        }

    def _window(self, left: int, right: int) -> np.ndarray:
        """Hann rise over ``left`` samples, 1 at the mark, Hann fall over ``right`` (both ends 0).
        Symmetric copies spaced ``left`` apart sum to one."""
        key = (left, right)
        w = self._windows.get(key)
        if w is None:
            if len(self._windows) > 4096:  # bounded: lengths are below the history size anyway
                self._windows.clear()
            rise = 0.5 + 0.5 * np.cos(np.pi * np.arange(-left, 0) / left)
            fall = 0.5 + 0.5 * np.cos(np.pi * np.arange(0, right + 1) / right)
            w = np.concatenate([rise, fall])
            self._windows[key] = w
        return w

    # --- stream bookkeeping ---------------------------------------------------------------------------

    def _new_samples(self, w: np.ndarray) -> int:
        """How many samples at the end of ``w`` the previous window did not have."""
        n = len(w)
        prev = self._prev_probe
        self._prev_probe = w[-_PROBE:].copy() if n >= _PROBE else None
        if prev is None or n < _PROBE:
            return n
        p = len(prev)
        s = self._last_shift
        i = n - p - s
        # the shift seen last comes first: a strictly periodic input (a test tone whose period divides
        # the block) or digital silence matches at many shifts, and the streaming pipeline always
        # brings new samples, so a shift of 0 is never the answer (it silenced a 200 Hz tone)
        if s > 0 and 0 <= i < n - p and np.array_equal(w[i : i + p], prev):
            return s
        hits = np.flatnonzero(w[: n - p] == prev[0])
        for i in hits[::-1]:  # the latest match = the smallest shift
            if np.array_equal(w[i : i + p], prev):
                self._last_shift = n - p - int(i)
                return self._last_shift
        self._resyncs += 1  # not a continuation (a restart, or a gap longer than the window)
        return n

    def _append(self, fresh: np.ndarray) -> None:
        k = len(fresh)
        if k == 0:
            return
        if k > self._cap // 2:  # longer than any window: only the newest part is ever used
            self._end += k - self._cap // 2
            self._dend = -(-self._end // self._dec)
            self._base = self._end
            self._marks.clear(), self._mark_period.clear(), self._mark_frac.clear()
            fresh = fresh[-self._cap // 2 :]
            k = len(fresh)
        used = self._end - self._base
        # grains reach up to a few cycles past the newest input: keep that much headroom
        if used + k + 4 * int(self._max_period) > self._cap:
            drop = used + k - self._cap // 2
            self._x[: used - drop] = self._x[drop:used]
            self._y[: self._cap - drop] = self._y[drop:]
            self._y[self._cap - drop :] = 0.0
            self._base += drop
            used -= drop
        self._x[used : used + k] = fresh
        self._end += k
        # decimated copy for the period track (causal FIR, then every dec-th sample)
        filt, self._lp_zi = signal.lfilter(self._lp, 1.0, fresh.astype(np.float64), zi=self._lp_zi)
        start = self._end - k
        kept = filt[(-start) % self._dec :: self._dec]  # full-rate index d*dec <-> decimated index d
        m = len(kept)
        dused = self._dend - self._dbase
        if dused + m > len(self._xd):
            drop = dused + m - len(self._xd) // 2
            self._xd[: dused - drop] = self._xd[drop:dused]
            self._dbase += drop
            dused -= drop
        self._xd[dused : dused + m] = kept
        self._dend += m

    # --- analysis -------------------------------------------------------------------------------------

    def _track(self) -> None:
        """YIN frames that the new decimated samples completed."""
        ends = []
        while self._next_frame_end <= self._dend:
            ends.append(self._next_frame_end)
            self._next_frame_end += self._yin_hop
        if not ends:
            return
        w, maxlag = self._win, self._maxlag
        frames = np.stack([self._xd[e - self._frame - self._dbase : e - self._dbase] for e in ends])
        nfft = self._nfft
        r = np.fft.irfft(np.conj(np.fft.rfft(frames[:, :w], nfft)) * np.fft.rfft(frames, nfft), nfft)
        c = np.concatenate([np.zeros((len(ends), 1)), np.cumsum(frames * frames, axis=1)], axis=1)
        taus = np.arange(1, maxlag + 1)
        d = np.maximum(c[:, w : w + 1] + (c[:, taus + w] - c[:, taus]) - 2.0 * r[:, 1 : maxlag + 1], 0.0)
        cmnd = d * taus / np.maximum(np.cumsum(d, axis=1), 1e-12)  # column k <-> lag k+1
        energy = c[:, w] / w
        lo = self._minlag - 1
        for row, e, en in zip(cmnd, ends, energy, strict=True):
            period = 0.0
            t = self._pick_lag(row, lo) if en > 1e-7 else -1
            if t >= 0:
                shift = 0.0
                if 0 < t < maxlag - 1:
                    a, b, c = row[t - 1], row[t], row[t + 1]
                    den = a - 2 * b + c
                    if den > 0:
                        shift = 0.5 * (a - c) / den
                period = (t + 1 + shift) * self._dec
            # the samples a frame compares span its window plus one lag (the period, or the longest lag)
            span = self._win + (period / self._dec if period > 0 else self._maxlag)
            centre = (e - self._frame + span / 2) * self._dec - self._lp_delay
            self._track_t.append(centre)
            self._track_p.append(period)
            self._frames += 1
            self._voiced_frames += period > 0
        if len(self._track_t) > 400:
            del self._track_t[:200], self._track_p[:200]

    def _pick_lag(self, row: np.ndarray, lo: int) -> int:
        """The period (column index) in one frame's normalised difference, or -1 when unvoiced.

        The deepest dip, unless a dip at a half or a third of its lag is nearly as deep (then that one:
        a voice repeats at every multiple of its period). At 8 kHz a period is rarely a whole number of
        samples, so even a clean voice's dip stays shallower than at the full rate; the chain of marks
        checks every cycle at the full rate afterwards, so the threshold here can be lenient."""
        seg = row[lo:]
        best = int(np.argmin(seg))
        if seg[best] >= self.voicing_threshold:
            return -1
        for div in (3, 2):
            sub = (best + lo + 1) / div - 1 - lo  # the same lag / div, as an index into seg
            a, b = max(0, int(sub) - 1), min(len(seg), int(sub) + 3)
            if b - a >= 2:
                k = a + int(np.argmin(seg[a:b]))
                is_dip = 0 < k < len(seg) - 1 and seg[k] <= seg[k - 1] and seg[k] <= seg[k + 1]
                if is_dip and seg[k] < seg[best] + 0.12:
                    best = k
                    break
        return best + lo

    def _first_voiced(self, lo: float, hi: float) -> float:
        """The period of the first voiced frame labelled within (lo, hi], or 0."""
        t, p = self._track_t, self._track_p
        i = int(np.searchsorted(t, lo, side="right"))
        while i < len(t) and t[i] <= hi:
            if p[i] > 0:
                return p[i]
            i += 1
        return 0.0

    def _period_at(self, pos: float) -> float:
        t = self._track_t
        if not t:
            return 0.0
        i = int(np.searchsorted(t, pos))
        if i >= len(t):
            return self._track_p[-1]
        if i > 0 and pos - t[i - 1] < t[i] - pos:
            i -= 1
        return self._track_p[i]

    def _xa(self, lo: int, hi: int) -> np.ndarray:
        return self._x[lo - self._base : hi - self._base]

    def _place_marks(self) -> None:
        end = self._end
        marks, periods, fracs = self._marks, self._mark_period, self._mark_frac
        if not marks:
            marks.append(self._base + self._unvoiced)
            periods.append(0.0)
            fracs.append(0.0)
        while True:
            a = marks[-1]
            prev_t = periods[-1]
            if prev_t <= 0:
                # Unvoiced so far: is there voice in the next stretch, or just after it? A frame is
                # labelled at its middle, so it turns voiced only some ms after the voice began;
                # looking one hop further starts the voiced run on time.
                ahead = a + self._unvoiced + self._onset_ahead
                if not self._track_t or self._track_t[-1] < ahead:
                    return  # not known yet
                t = self._first_voiced(a, ahead)
            else:
                t = self._period_at(a + prev_t)
            min_ncc = _MIN_NCC
            if prev_t > 0 and (t <= 0 or abs(t / prev_t - 1) > 0.35):
                # the tracker lost the voice or jumped (often an octave error): follow the chain,
                # but only on a clearly repeating cycle
                t, min_ncc = prev_t, _KEEP_NCC
            if t > 0 and prev_t > 0:
                # The next cycle: where the cycle that ends at `a` repeats best, near the tracked period.
                # Comparing the cycles *before* the marks needs input only up to the candidate.
                n = round(t)
                lo = a + int(t * (1 - _SEARCH))
                hi = a + math.ceil(min(t * (1 + _SEARCH), self._max_period))
                if hi + 1 > end:
                    return
                ref = self._xa(a - n, a).astype(np.float64)
                seg = self._xa(lo - n, hi + 1).astype(np.float64)
                num = np.correlate(seg, ref, mode="valid")  # num[k] <-> candidate lo + k
                csum = np.concatenate([[0.0], np.cumsum(seg * seg)])
                den = np.sqrt((csum[n:] - csum[:-n]) * float(np.dot(ref, ref))) + 1e-12
                ncc = num / den
                k = int(np.argmax(ncc))
                if ncc[k] >= min_ncc:
                    frac = 0.0
                    if 0 < k < len(ncc) - 1:
                        p, q, r = ncc[k - 1], ncc[k], ncc[k + 1]
                        den2 = p - 2 * q + r
                        if den2 < 0:
                            frac = 0.5 * (p - r) / den2
                    c = lo + k
                    marks.append(c)
                    periods.append(c + frac - a - fracs[-1])
                    fracs.append(frac)
                    continue
                # the cycle does not repeat: unvoiced from here, but never closer than a cycle could be
                c = a + max(self._unvoiced, math.ceil(0.8 * prev_t))
                if c > end:
                    return
                marks.append(c)
                periods.append(0.0)
                fracs.append(0.0)
                continue
            if t > 0:
                # onset of a voiced run: the first mark on the largest peak of the next cycle
                c = self._energy_peak(a + 1, a + 1 + int(t))
                if c < 0:
                    return
                marks.append(c)
                periods.append(float(t))
                fracs.append(0.0)
                continue
            c = a + self._unvoiced
            if c > end:
                return
            marks.append(c)
            periods.append(0.0)
            fracs.append(0.0)

    def _energy_peak(self, lo: int, hi: int) -> int:
        """Where in [lo, hi) the short-time energy (quarter-cycle Hann) peaks: the cycle's main
        excitation, so the grain's window is centred on it. -1 when the input does not reach yet."""
        k = max(3, (hi - lo) // 4) | 1
        if hi + k // 2 > self._end or lo - k // 2 < self._base:
            return -1 if hi + k // 2 > self._end else lo + int(np.argmax(np.abs(self._xa(lo, hi))))
        seg = self._xa(lo - k // 2, hi + k // 2).astype(np.float64)
        env = np.convolve(seg * seg, np.hanning(k), mode="valid")
        return lo + int(np.argmax(env))

    # --- synthesis ------------------------------------------------------------------------------------

    def _synthesise(self) -> None:
        """Emit output grains in order while each one's source mark and input are known.

        Output mark ``o`` takes the grain of the latest analysis mark at or before it (not the nearest:
        that would wait for half a cycle more input), so an output sample is final about two cycles after
        it: one for the grain after its mark, one for the output grain that reaches back to it."""
        marks, periods = self._marks, self._mark_period
        f, ratio, end = self.formant, self.ratio, self._end
        o = max(self._out_pos, float(marks[0]))
        j = 0
        while True:
            while j + 1 < len(marks) and marks[j + 1] <= o:
                j += 1
            m, t = marks[j], periods[j]
            last = j + 1 >= len(marks)
            if t > 0:
                if last and o >= m + 0.8 * t:  # a later mark may still land before o
                    break
                if not last and periods[j + 1] > 0:
                    t = 0.5 * (t + periods[j + 1])  # the mean spacing to the voiced neighbours
                half_in, left_in = t * self._fall, t * self._rise
                centre, src = round(o), m
                step = t / ratio
                gain = self._voiced_gain
            else:
                # Unvoiced: the input passes as it is, in grains from the previous output grain to the
                # next mark (usually 5 ms on; the grain need not wait for that mark to be placed).
                # Arriving from a voiced run, the first one starts where the output is, so nothing
                # between the last voiced grain and the next mark is left out.
                if o > m and last:  # whether what follows is voiced is not decided yet
                    break
                centre = src = m if o <= m else round(o)
                right_end = centre + self._unvoiced if last else marks[j + 1]
                if right_end - centre < 2:
                    o = float(right_end)
                    continue
                since = centre - self._last_centre
                left_in = float(since) if 2 <= since <= self._unvoiced * 2 else float(self._unvoiced)
                half_in = float(right_end - centre)
                step, gain = half_in, 1.0
            if src + math.ceil(half_in) + 2 > end:  # the grain's input is not all here yet
                break
            right = max(1, round(half_in / f))
            left = max(1, round(left_in / f))
            lo = centre - left - self._base
            if lo >= 0 and src - self._base - left - 1 >= 0:  # (not at the very start of the stream)
                if f == 1.0:
                    grain = self._xa(src - left, src + right + 1).astype(np.float64)
                else:
                    pos = src - self._base + np.arange(-left, right + 1) * f
                    i0 = np.floor(pos).astype(np.int64)
                    frac = pos - i0
                    grain = self._x[i0] * (1.0 - frac) + self._x[i0 + 1] * frac
                self._y[lo : lo + left + right + 1] += grain * self._window(left, right) * gain
            self._last_centre = centre
            o += step
        self._out_pos = o
        # forget marks well behind the output
        keep = int(np.searchsorted(np.asarray(marks), o - 4 * self._max_period))
        if keep > 8:
            del marks[:keep], periods[:keep], self._mark_frac[:keep]

    # --- the converter interface ----------------------------------------------------------------------

    def convert(self, window: np.ndarray) -> np.ndarray:
        x = np.asarray(window, dtype=np.float32)
        if self.ratio == 1.0 and self.formant == 1.0:
            return x
        n = len(x)
        fresh = self._new_samples(x)
        if fresh:
            self._append(x[n - fresh :])
            self._track()
            self._place_marks()
            self._synthesise()
        out = np.zeros(n, dtype=np.float32)
        lo = self._end - n
        src = max(lo, self._base)
        out[src - lo :] = self._y[src - self._base : self._end - self._base]
        return out
