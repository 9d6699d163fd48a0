"""The README's stated defaults against the code's: every "(default X)" claim about a `mirage-cli`
option or a setting is checked against the real argparse parsers (built by ``cli.build_parser``) and,
for options that fall back to the settings file, against the settings dataclasses' own defaults.

An option that defaults to ``None`` ("keep what the settings file says") is resolved by probing: it is
parsed with a value, applied to default settings with the CLI's own apply functions, and the one
settings field that changed is the one it sets; its dataclass default is the option's default. A line
that says "default" in a way no rule reads fails the test, so a new wording cannot slip past it.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mirage_desktop.cli import build_parser
from mirage_desktop.cli import voice as voice_cli
from mirage_desktop.cli.common import apply_video_args
from mirage_desktop.cli.face_args import apply_face_quality_args
from mirage_desktop.cli.voice_args import apply_live_voice_args
from mirage_desktop.config.settings import Settings
from mirage_desktop.processing.face.look import FaceLook

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "README.md", ROOT / "models" / "README.md")

#: sentences that say "default" without naming one option's default value
NOT_CLAIMS = (
    "the default is used",
    "| os | default folder |",
)
#: a help text ending in "(VALUE)" or "(…, VALUE)" states that value as the default
_HELP_TAIL = re.compile(r"[(,]\s*([a-z0-9_][a-z0-9_.\-]*)\)$")
#: … unless the parenthesis says something else
NOT_VALUES = ("optional",)
#: a one-word "(default: WORD)" that says where the value comes from, not what it is (help texts)
INDIRECT = ("settings", "negotiated")


@dataclass(frozen=True)
class Claim:
    doc: str
    line: int
    subject: str  # "--option" or "section.key"
    value: str
    text: str

    def where(self) -> str:
        return f"{self.doc}:{self.line}: {self.text.strip()}"


# --- reading the claims --------------------------------------------------------------------------------
_OPTION = re.compile(r"`(--[a-z0-9][a-z0-9-]*)[^`]*`")
_RULES = (
    # `--paste-mode` detail (default) | replace   /   `--face-mask` ellipse (default: fitted …)
    re.compile(r"(?P<value>[\w.\-]+)\s*\(default(?:\)|:)"),
    # `--codeformer-fidelity` 0–1 (default 0.75, …)   /   `--map-threshold`, default 0.4
    re.compile(r"(?:\(|,\s)default (?P<value>[^\s,;)]+)"),
)
# (`--backend auto`, the default)
_INLINE = re.compile(r"`(?P<subject>--[a-z0-9-]+) (?P<value>[^`\s]+)`,? the default")
# (`voice.lip_sync`, on by default)   /   `--color-transfer` (on by default: …)
_SETTING = re.compile(r"`(?P<subject>[a-z_]+\.[a-z_]+|--[a-z0-9-]+)`,? \(?(?P<value>on|off) by default")


def blocks(text: str) -> list[tuple[int, str]]:
    """Paragraphs and list items as single lines (a claim may wrap), with their first line number."""
    out: list[tuple[int, list[str]]] = []
    for number, line in enumerate(text.splitlines(), 1):
        starts = not line.strip() or line.lstrip().startswith(("- ", "* ", "|", "#", "```"))
        if starts or not out:
            out.append((number, []))
        if line.strip():
            out[-1][1].append(line.strip())
    return [(n, " ".join(lines)) for n, lines in out if lines]


def read_claims(path: Path) -> tuple[list[Claim], list[str]]:
    """The default claims in ``path``, and the lines that say "default" in a way no rule reads."""
    claims: list[Claim] = []
    unread: list[str] = []
    name = path.relative_to(ROOT).as_posix()
    for number, block in blocks(path.read_text(encoding="utf-8")):
        if "default" not in block.lower():
            continue
        found = 0
        for match in (*_INLINE.finditer(block), *_SETTING.finditer(block)):
            claims.append(Claim(name, number, match["subject"], match["value"], block))
            found += 1
        for rule in _RULES:
            for match in rule.finditer(block):
                options = list(_OPTION.finditer(block, 0, match.start()))
                if not options:
                    continue
                claims.append(Claim(name, number, options[-1].group(1), match["value"], block))
                found += 1
        said = len(re.findall(r"default", block, re.I))
        harmless = sum(block.lower().count(phrase) for phrase in NOT_CLAIMS)
        # "starts with defaults", "uses defaults": the plural names no option (unlike "defaults to")
        harmless += len(re.findall(r"\bdefaults\b(?! to)", block, re.I))
        if found + harmless < said:
            unread.append(f"{name}:{number}: {block}")
    return claims, unread


# --- the code's defaults ---------------------------------------------------------------------------------
def subcommands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """(command path, parser) for the parser and every sub-command below it."""
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from subcommands(sub, (*prefix, name))


def _flat(data: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[prefix + key] = value
    return out


def _required(parser: argparse.ArgumentParser) -> list[str]:
    argv: list[str] = []
    for action in parser._actions:
        if action.required and action.option_strings:
            argv += [action.option_strings[0], "placeholder"]
        elif not action.option_strings and action.nargs not in ("?", "*", argparse.PARSER):
            argv.append("placeholder")
    return argv


def applied(command: tuple[str, ...], parser: argparse.ArgumentParser, argv: list[str]) -> dict[str, Any]:
    """Default settings after the command's own apply functions took these options."""
    args = build_parser().parse_args([*command, *_required(parser), *argv])
    settings = Settings()
    if command == ("voice",):
        settings.voice = voice_cli._voice_settings(args)  # the user's (empty) settings file + options
    else:
        # what run_command sets itself, then the shared apply functions
        for dest, key in (("source", "video.source"), ("virtual_camera_name", "output.virtual_camera_name")):
            if getattr(args, dest, None):
                section, field = key.split(".")
                setattr(getattr(settings, section), field, getattr(args, dest))
        apply_face_quality_args(settings, args)
        if any(getattr(args, a, None) is not None for a in ("width", "height", "fps", "max_fps")):
            apply_video_args(settings, args)
        apply_live_voice_args(settings.voice, args)
    return _flat(settings.to_dict())


def _probes(action: argparse.Action) -> list[list[str]]:
    flag = action.option_strings[-1] if action.option_strings else ""
    if isinstance(action, argparse.BooleanOptionalAction):
        return [[action.option_strings[0]], [s for s in action.option_strings if s.startswith("--no-")]]
    if action.nargs == 0:
        return [[flag]]
    if action.choices:
        return [[flag, str(choice)] for choice in action.choices]
    probes = []
    for text in ("0.37", "1", "0", "-3", "1.5", "20", "1000"):
        try:
            if action.type is not None:
                action.type(text)
        except (ValueError, TypeError, argparse.ArgumentTypeError):
            continue
        probes.append([flag, text])
    return probes


def effective_default(command: tuple[str, ...], parser: argparse.ArgumentParser, action: argparse.Action):
    """What the option means when it is left out: its own default, or the settings field it sets."""
    if action.default not in (None, argparse.SUPPRESS):
        return action.default, "argparse"
    base = applied(command, parser, [])
    for probe in _probes(action):
        changed = [k for k, v in applied(command, parser, probe).items() if base.get(k) != v]
        if len(changed) == 1:
            return base[changed[0]], changed[0]
    return None, "none"


def options() -> dict[str, list[tuple[tuple[str, ...], argparse.ArgumentParser, argparse.Action]]]:
    found: dict[str, list] = {}
    for command, parser in subcommands(build_parser()):
        for action in parser._actions:
            for flag in action.option_strings:
                found.setdefault(flag, []).append((command, parser, action))
    return found


def same(claim: str, value: Any) -> bool:
    claim = claim.strip("'\"`").replace("−", "-")
    if isinstance(value, bool):
        return claim.lower() in (("on", "true", "yes") if value else ("off", "false", "no"))
    if isinstance(value, int | float):
        try:
            return float(claim.rstrip(":")) == float(value)
        except ValueError:
            return False
    if value in ("", None):
        return claim.lower() in ("none", "off", "''")
    return claim == str(value)


def drift(claims: list[Claim]) -> list[str]:
    """Each claim that disagrees with the code (or names something the code does not have)."""
    table = options()
    defaults = Settings()
    wrong: list[str] = []
    for claim in claims:
        if claim.subject.startswith("--"):
            places = table.get(claim.subject)
            if not places:
                wrong.append(f"{claim.where()}\n    no mirage-cli command has {claim.subject}")
                continue
            for command, parser, action in places:
                value, source = effective_default(command, parser, action)
                if not same(claim.value, value):
                    wrong.append(
                        f"{claim.where()}\n    says {claim.subject} defaults to {claim.value!r}; "
                        f"`mirage-cli {' '.join(command)}` defaults to {value!r} (from {source})"
                    )
        else:
            section, key = claim.subject.split(".")
            value = getattr(getattr(defaults, section, None), key, "<no such setting>")
            if not same(claim.value, value):
                wrong.append(
                    f"{claim.where()}\n    says {claim.subject} is {claim.value}; the default is {value!r}"
                )
    return wrong


@pytest.fixture(autouse=True)
def _private_settings(tmp_path, monkeypatch):
    # the voice command reads the user's settings file: an empty private folder gives the defaults
    monkeypatch.setenv("MIRAGE_CONFIG_DIR", str(tmp_path / "config"))


# --- the tests -------------------------------------------------------------------------------------------
def test_every_default_claim_in_the_docs_is_read():
    unread = [line for doc in DOCS if doc.exists() for line in read_claims(doc)[1]]
    assert not unread, "lines that say 'default' in a way no rule reads (add a rule):\n" + "\n".join(unread)


def test_the_docs_state_the_codes_defaults():
    claims = [c for doc in DOCS if doc.exists() for c in read_claims(doc)[0]]
    # the claims the README is known to make must all be found, so the reader cannot go blind
    subjects = {c.subject for c in claims}
    assert {"--paste-mode", "--swapper", "--face-mask", "--map-threshold", "--backend"} <= subjects
    assert "voice.lip_sync" in subjects
    wrong = drift(claims)
    assert not wrong, "the docs disagree with the code:\n" + "\n".join(wrong)


def test_the_checker_sees_a_drifted_default():
    # the README's old line (issue 17): detail stated as the default where the code pastes "replace"
    text = "- `--color-transfer`, `--paste-mode` detail\n  (default) | replace | mix, `--opacity` 0–1.\n"
    claims = []
    for number, block in blocks(text):
        for match in _RULES[0].finditer(block):
            option = list(_OPTION.finditer(block, 0, match.start()))[-1].group(1)
            claims.append(Claim("example", number, option, match["value"], block))
    assert [(c.subject, c.value) for c in claims] == [("--paste-mode", "detail")]
    problems = drift(claims)
    assert len(problems) == 2  # run and process both take --paste-mode
    assert all("defaults to 'replace'" in p and "face.paste_mode" in p for p in problems)


def test_option_help_states_the_codes_defaults():
    """`mirage-cli … --help` is documentation too: its "(default X)" must be the real default."""
    wrong: list[str] = []
    checked: list[str] = []
    for command, parser in subcommands(build_parser()):
        for action in parser._actions:
            if not action.option_strings or not action.help:
                continue
            said = re.search(r"\(default(:?) ([^;,)]+)", action.help)
            if said is not None:
                described = said.group(1) == ":" and len(said.group(2).split()) > 1
                if described or said.group(2).split()[0] in INDIRECT:
                    continue  # "(default: the one marked default, else the first)" describes a rule
            if said is not None:
                quoted = re.match(r"'([^']*)'", said.group(2))
                claim = quoted.group(1) if quoted else said.group(2).split(":")[0].split()[0]
            elif (onoff := re.search(r"\((on|off) by default", action.help)) is not None:
                claim = onoff.group(1)
            elif (tail := _HELP_TAIL.search(action.help)) is not None and tail.group(1) not in NOT_VALUES:
                claim = tail.group(1)  # "… (replace)", "… (ArcFace cosine similarity, 0.4)"
            else:
                continue
            checked.append(action.option_strings[-1])
            value, source = effective_default(command, parser, action)
            if not same(claim, value):
                wrong.append(
                    f"mirage-cli {' '.join(command)} {action.option_strings[-1]}: help says default "
                    f"{claim!r}, the code's is {value!r} (from {source})"
                )
    assert {"--paste-mode", "--face-mask", "--codeformer-fidelity", "--map-threshold", "--block-ms"} <= set(
        checked
    ), checked
    assert not wrong, "\n".join(wrong)


def test_the_readmes_example_lists_the_stages_a_run_has():
    """The sample output under a `mirage-cli process` example names the stages that command runs."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    checked = 0
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        joined = block.replace("\\\n", " ")
        command = next((ln for ln in joined.splitlines() if ln.startswith("mirage-cli process")), None)
        stated = re.search(r"stages: ([^)]+)\)", joined)
        if command is None or stated is None:
            continue
        argv = shlex.split(command.split("#")[0])[1:]
        args = build_parser().parse_args(argv)
        settings = Settings()
        apply_face_quality_args(settings, args)
        stages = " → ".join(FaceLook.from_settings(settings.face).active_stages())
        assert stated.group(1).strip() == stages, (
            f"README: {command}\n  says {stated.group(1)}\n  runs {stages}"
        )
        checked += 1
    assert checked, "the README's face-quality example was not found"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux row of the table")
def test_models_readme_names_the_default_linux_folder(monkeypatch, tmp_path):
    from mirage_desktop.config.paths import AppPaths

    text = (ROOT / "models" / "README.md").read_text(encoding="utf-8")
    row = re.search(r"\| Linux \| `([^`]+)`", text)
    assert row, "models/README.md lost its Linux row"
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv("MIRAGE_DATA_DIR", raising=False)
    monkeypatch.delenv("MIRAGE_MODELS_DIR", raising=False)
    stated = Path(row.group(1).replace("~", str(tmp_path)))
    assert AppPaths.from_env().models_dir == stated
