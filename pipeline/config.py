"""Configuration: one TOML file of defaults (``configs/default.toml``) that documents every key.

A user file (``--config``) and ``--set section.key=value`` overrides are merged over it. Keys
that the defaults do not define are an error naming the key and the closest valid one; a value
of the wrong type is an error naming the key and the expected type.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "configs" / "default.toml"
#: The allowed values of constrained keys (JSON Schema fragments), checked by ``validate``.
CONFIG_SCHEMA = PROJECT_ROOT / "configs" / "schema.toml"
#: Key names treated as secrets: never hashed, logged or written to a manifest.
SECRET_KEY = re.compile(r"(api_key|secret|token|password|credential)s?$", re.IGNORECASE)
#: Sections that change how work is scheduled, never what it produces; excluded from hashes.
EXECUTION_SECTIONS = ("execution",)


def _flatten(table: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise UserError(f"{path}: configuration file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: invalid TOML: {exc}") from None


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list"}.get(
        type(value), type(value).__name__
    )


def _check_type(key: str, value: Any, default: Any, origin: str) -> Any:
    """Return ``value`` converted to the default's type, or raise UserError."""
    if isinstance(default, bool) or isinstance(value, bool):
        ok = isinstance(value, bool) and isinstance(default, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float))
        value = float(value) if ok else value
    elif isinstance(default, int):
        ok = isinstance(value, int)
    elif isinstance(default, list):
        ok = isinstance(value, list)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise UserError(
            f"{origin}: key '{key}' must be {_type_name(default)} (like {json.dumps(default)}), "
            f"got {json.dumps(value, default=str)}"
        )
    return value


def _unknown_key(key: str, valid: list[str], origin: str) -> UserError:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return UserError(f"{origin}: unknown key '{key}'{hint}; valid keys are listed in {DEFAULT_CONFIG.name}")


def parse_override(text: str) -> tuple[str, str]:
    """Split ``section.key=value``; the value is TOML (``5``, ``true``, ``["a", "b"]``) or a bare string."""
    if "=" not in text:
        raise UserError(f"--set {text}: expected section.key=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if "." not in key:
        raise UserError(f"--set {text}: the key must name its section, like ingest_reddit.min_length")
    return key, raw.strip()


#: A --set value starting like this is meant as TOML (a list, table, quoted string, number,
#: boolean): it must parse as TOML, never fall back to a bare string.
_LOOKS_LIKE_TOML = re.compile(r"""^(?:[\[{"']|[-+]?\d|(?:true|false)$)""")


def _parse_value(raw: str, default: Any, origin: str) -> Any:
    if isinstance(default, str) and not raw.startswith(("'", '"')):
        return raw  # --set ingest_reddit.date_from=2024-01-01 is the string, not a TOML date
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError as exc:
        if _LOOKS_LIKE_TOML.match(raw):
            raise UserError(f"{origin}: the value is not valid TOML ({exc}); quote strings and close "
                            f"lists, like [\"a\", \"b\"]") from None
    if isinstance(default, str):
        return raw
    if isinstance(default, list):  # --set ingest_reddit.inputs=/dumps/RC_*.zst
        return [raw]
    return raw  # reported as a type error by _check_type


@dataclass
class Config:
    """Merged configuration. ``values`` maps dotted keys to values; ``origin`` says where each came from."""

    values: dict[str, Any]
    origin: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def section(self, name: str) -> dict[str, Any]:
        """The keys of one ``[section]`` (without the prefix), secrets included."""
        prefix = name + "."
        return {k[len(prefix):]: v for k, v in self.values.items() if k.startswith(prefix)}

    def restrict(self, keys, owner: str) -> "Config":
        """A view holding only ``keys`` (dotted): reading another raises ``UndeclaredRead``."""
        keep = {k: self.values[k] for k in keys}
        return RestrictedConfig(keep, {k: self.origin.get(k, "") for k in keep}, owner=owner, allowed=frozenset(keep))

    def public_section(self, name: str) -> dict[str, Any]:
        """``section(name)`` with secret values replaced by ``"<redacted>"``: safe for manifests."""
        return {k: ("<redacted>" if SECRET_KEY.search(k) and v else v) for k, v in self.section(name).items()}


class UndeclaredRead(KeyError):
    """A stage read a config key it does not declare."""

    @classmethod
    def of(cls, owner: str, key: str) -> "UndeclaredRead":
        return cls(f"stage {owner} reads '{key}' but does not declare it: add it to the stage's `uses` (a "
                   f"setting that decides its output) or `tunes` (one that only changes how the work is done)")


class DeclaredSection(dict):
    """The keys of one section a stage declares; reading another raises ``UndeclaredRead``."""

    def __init__(self, values: dict[str, Any], owner: str, section: str):
        super().__init__(values)
        self.owner, self.name = owner, section

    def __missing__(self, key: str) -> Any:
        raise UndeclaredRead.of(self.owner, f"{self.name}.{key}")

    def get(self, key: str, default: Any = None) -> Any:
        return self[key]  # every declared key is present: a missing one is undeclared, not optional

    def __reduce__(self):
        return DeclaredSection, (dict(self), self.owner, self.name)


@dataclass
class RestrictedConfig(Config):
    owner: str = ""
    allowed: frozenset = frozenset()

    def _check(self, key: str) -> None:
        if key not in self.allowed:
            raise UndeclaredRead.of(self.owner, key)

    def __getitem__(self, key: str) -> Any:
        self._check(key)
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        self._check(key)
        return self.values.get(key, default)

    def section(self, name: str) -> dict[str, Any]:
        """The declared keys of ``[name]``; reading any other key of it raises ``UndeclaredRead``."""
        return DeclaredSection(super().section(name), self.owner, name)


def keys_hash(config: Config, keys) -> str:
    """sha256 over the values of ``keys`` (dotted), secrets left out: the config part of a stage's
    fingerprint. Keys of ``[execution]`` never count."""
    payload = {k: config.values[k] for k in keys
               if not SECRET_KEY.search(k) and k.split(".", 1)[0] not in EXECUTION_SECTIONS}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


#: The defaults file may map old section names (and old "section.key" names) to new ones; an
#: old name is an error naming the new.
RENAMED = "renamed_sections"
RENAMED_KEYS = "renamed_keys"


def _renamed_hint(key: str, renamed: dict[str, str], origin: str, renamed_keys: dict[str, str] | None = None) -> None:
    if renamed_keys and key in renamed_keys:
        new = renamed_keys[key]
        raise UserError(f"{origin}: {key} is now {new} (section [{new.partition('.')[0]}]): use {new}")
    section, _, rest = key.partition(".")
    if section in renamed:
        new = f"{renamed[section]}.{rest}"
        raise UserError(f"{origin}: section [{section}] is now [{renamed[section]}]: use {new}")


def load_config(path: Path | str | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Defaults, then the user's file, then ``--set`` overrides, each checked against the defaults."""
    raw_defaults = _read_toml(DEFAULT_CONFIG)
    renamed = raw_defaults.pop(RENAMED, {})
    renamed_keys = raw_defaults.pop(RENAMED_KEYS, {})
    defaults = _flatten(raw_defaults)
    values = dict(defaults)
    origin = {k: str(DEFAULT_CONFIG) for k in defaults}
    valid = sorted(defaults)
    if path is not None:
        path = Path(path)
        for key, value in _flatten(_read_toml(path)).items():
            if key not in defaults:
                # a table given where a value is expected, or a real typo
                _renamed_hint(key, renamed, str(path), renamed_keys)
                raise _unknown_key(key, valid, str(path))
            values[key] = _check_type(key, value, defaults[key], str(path))
            origin[key] = str(path)
    for text in overrides:
        key, raw = parse_override(text)
        if key not in defaults:
            _renamed_hint(key, renamed, f"--set {text}", renamed_keys)
            raise _unknown_key(key, valid, f"--set {text}")
        values[key] = _check_type(key, _parse_value(raw, defaults[key], f"--set {text}"), defaults[key],
                                  f"--set {text}")
        origin[key] = "--set"
    config = Config(values, origin)
    validate(config)
    return config


def _date_or_empty(value: object) -> bool:
    """A real day as YYYY-MM-DD, or "" (unbounded)."""
    import datetime

    if not isinstance(value, str) or value == "":
        return True
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


def validate(config: Config, schema_path: Path = CONFIG_SCHEMA) -> None:
    """Check the whole merged configuration against ``configs/schema.toml`` (ranges, allowed
    values, regexes that compile, real dates) and its ordered pairs (min <= max). The first
    violation is a UserError naming the key, where its value came from and what is allowed."""
    import jsonschema

    spec = _read_toml(schema_path)
    properties = dict(spec.get("keys", {}))
    unknown = sorted(k for k in properties if k not in config.values)
    if unknown:  # a schema entry for a key that no longer exists is a bug here, not the user's
        raise RuntimeError(f"{schema_path.name}: '{unknown[0]}' is not a key of {DEFAULT_CONFIG.name}")
    schema = {"type": "object", "properties": properties, "patternProperties": spec.get("patterns", {})}
    checker = jsonschema.FormatChecker()
    checker.checks("date_or_empty")(_date_or_empty)
    validator = jsonschema.Draft202012Validator(schema, format_checker=checker)
    public = {k: v for k, v in config.values.items() if not SECRET_KEY.search(k)}
    for key, value in public.items():  # NaN passes every bound (each comparison with it is false)
        if not _finite(value):
            where = config.origin.get(key, "")
            where = f"{where}: " if where and where != str(DEFAULT_CONFIG) else ""
            raise UserError(f"{where}'{key}' = {value!r} must be a finite number, not NaN or infinity "
                            f"(allowed values: configs/{schema_path.name})")
    errors = sorted(validator.iter_errors(public), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        e = errors[0]
        key = str(e.absolute_path[0])
        where = config.origin.get(key, "")
        where = f"{where}: " if where and where != str(DEFAULT_CONFIG) else ""
        raise UserError(f"{where}'{key}' = {json.dumps(config.values[key])} {_explain(e)} "
                        f"(allowed values: configs/{schema_path.name})")
    for low, high in spec.get("order", {}).get("pairs", []):
        a, b = config.values[low], config.values[high]
        if a == "" or b == "":  # an unbounded end
            continue
        if a > b:
            raise UserError(f"'{low}' = {json.dumps(a)} is greater than '{high}' = {json.dumps(b)}: "
                            f"lower the first or raise the second")


def _finite(value: Any) -> bool:
    """Whether ``value`` holds no NaN or infinite float, in lists too."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


def _explain(error) -> str:
    """What is wrong, shortened from jsonschema's message ("must be one of ...")."""
    v, limit = error.validator, error.validator_value
    if v == "enum":
        return "must be one of " + ", ".join(json.dumps(x) for x in limit)
    if v in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[v]
        return f"must be {op} {limit}"
    if v == "format" and limit == "regex":
        try:
            re.compile(error.instance)
        except re.error as exc:
            return f"is not a valid regular expression ({exc})"
    if v == "format" and limit == "date_or_empty":
        return 'must be a real day like "2024-01-31", or "" for unbounded'
    return error.message
