"""Generate the mobilityhouse-shaped model modules of ``ocppfast.compat`` (``v16``, ``v201``, ``v21``).

Output per version, under ``ocppfast/compat/<version>/``:

- ``enums.py``: ``enum.StrEnum`` classes (and v16's ``CiStringType(int)``), with the per-version
  ``Action`` enum;
- ``datatypes.py``, ``call.py``, ``call_result.py``: plain ``@dataclass`` classes with
  mobilityhouse ``ocpp==2.1.0``'s class names, field names, positional field order, defaults and
  annotations (equal in meaning; rendered the same way);
- ``_keys.py``: module-level tables for the compat runtime: per payload type, the mobilityhouse
  snake_case field name -> the schema's camelCase wire key (and back), so keys convert without
  regexes, and right where mobilityhouse's regex gets OCPP 2.1 keys wrong.

Usage::

    python tools/gen_compat.py                  # write into ocppfast/compat
    python tools/gen_compat.py --out DIR        # write DIR/v16, DIR/v201, DIR/v21
    python tools/gen_compat.py --check          # exit 1 if the committed files are stale

``python tools/gen_messages.py`` (and its ``--check``) runs this too.

Where each fact comes from
--------------------------
From the JSON schemas, through ``tools/gen_messages.py``'s ``VersionModel`` (the same reading as the
native ``ocppfast.v*`` packages): the actions; each payload's wire keys, which are required, and
their types; nested types; enumeration values and their order; the ``Action`` enum. A field's
annotation and default are derived from its schema property (``string`` -> ``str``, ``integer`` ->
``int``, ``number`` -> ``float``, ``boolean`` -> ``bool``, enumeration -> the enum class, object ->
the dataclass, an object with no mobilityhouse dataclass -> ``Dict[str, Any]``, array ->
``List[...]``, no type -> ``Any``; not required -> ``Optional[...] = None``, or in 2.1 ``T = d``
when the schema gives a ``default`` d, as mobilityhouse's 2.1 models do; ``VersionModel`` drops
``default``, so that keyword alone is read from the schema files here), enum member names with
``gen_messages.enum_member``. Each mobilityhouse field is tied to its schema key by
mobilityhouse's documented camelCase -> snake_case rule (``mh_camel_to_snake``), else (the
fields in ``_keys.MH_FIELD_NAMES``) by its snake_case -> camelCase rule or by equal letters.

From the installed ``ocpp==2.1.0`` modules, by introspection at generation time (interface facts,
never source text or docstrings): which classes each module defines and their order; each
dataclass's field names and order; and, only where the hand-written mobilityhouse class deviates from the
schema derivation, the field's annotation (e.g. ``Dict`` where the schema has an object), its
default (e.g. ``field(default_factory=list)``, the required ``Optional[str]`` of v16
SecurityEventNotification.tech_info) or the names/values/order of an enum's members; enums and
classes that exist only there (v16 ``ConfigurationKey``, ``CiStringType``, v201
``...VariableName``, ...); how each module spells its imports (``enums.X`` or ``X``, and
``from __future__ import annotations`` where mobilityhouse has it). Each generated file's header
counts what was derived and what was read.

The output is deterministic (walks in module order of a pinned package, schema files in sorted
order, no timestamps).
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import filecmp
import importlib
import importlib.metadata
import inspect
import json
import re
import sys
import tempfile
import types
import typing
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_messages as gm

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "ocppfast" / "compat"
MODULES = ("enums", "datatypes", "call", "call_result")
GENERATOR = "tools/gen_compat.py"

# A type expression as a small tree: ("atom", "int"|"str"|"float"|"bool"|"Any"|"Dict"|"List"),
# ("ref", "enums"|"datatypes", name), ("Optional", t), ("Union", (t, ...)),
# ("G", "List"|"Dict"|"list"|"dict", (t, ...)).
Tree = tuple[Any, ...]
_ATOMS: dict[Any, str] = {int: "int", str: "str", float: "float", bool: "bool"}
# mobilityhouse's 2.1 models turn a schema ``default`` into the field's default (``tbc: bool =
# False``); its 1.6 (no defaults in the schemas) and 2.0.1 models keep ``Optional[...] = None``.
APPLIES_SCHEMA_DEFAULTS = {"v21"}
_NO_DEFAULT = object()


# --- mobilityhouse's case conversion (COMPAT-MOBILITYHOUSE.md section 6), our own code ----------
def mh_camel_to_snake(key: str) -> str:
    key = key.replace("ocppCSMSURL", "ocpp_csms_url").replace("V2X", "_v2x").replace("V2G", "_v2g")
    key = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", key)
    key = re.sub(r"([a-z0-9])([A-Z])(?=\S)", r"\1_\2", key)
    return key.lower()


def mh_snake_to_camel(key: str) -> str:
    for old, new in (
        ("soc", "SoC"), ("_v2x", "V2X"), ("ocpp_csms_url", "ocppCsmsUrl"), ("csms", "CSMS"),
        ("_url", "URL"), ("soc", "SoC"), ("_SoCket", "Socket"), ("_v2x", "V2X"),
        ("soc_limit_reached", "SOCLimitReached"), ("_v2x", "V2X"), ("_v2g", "V2G"),
    ):  # fmt: skip
        key = key.replace(old, new)
    if "_" not in key:
        return key
    first, *rest = key.split("_")
    return first + "".join(p[:1].upper() + p[1:] for p in rest)


# --- type trees ----------------------------------------------------------------------------------
def tree_of_hint(hint: Any, package: str) -> Tree:
    """A resolved annotation of an installed ``ocpp.<package>`` class -> a tree."""
    if hint in _ATOMS:
        return ("atom", _ATOMS[hint])
    if hint is Any:
        return ("atom", "Any")
    if hint is typing.Dict:  # noqa: UP006
        return ("atom", "Dict")
    if hint is typing.List:  # noqa: UP006
        return ("atom", "List")
    if inspect.isclass(hint):
        for kind in ("enums", "datatypes"):
            if hint.__module__ == f"ocpp.{package}.{kind}":
                return ("ref", kind, hint.__name__)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        rest = tuple(tree_of_hint(a, package) for a in args if a is not type(None))
        inner = rest[0] if len(rest) == 1 else ("Union", rest)
        return ("Optional", inner) if len(rest) < len(args) else inner
    if origin in (list, dict):
        builtin = isinstance(hint, types.GenericAlias)
        name = origin.__name__ if builtin else origin.__name__.capitalize()
        return ("G", name, tuple(tree_of_hint(a, package) for a in args))
    raise ValueError(f"unsupported annotation {hint!r}")


@dataclasses.dataclass(frozen=True)
class Style:
    """How a mobilityhouse module spells references: ``enums.X`` or ``X``."""

    module: str
    qualified: bool  # the module imports the enums / datatypes modules, not their names
    future: bool  # ``from __future__ import annotations``


def render(t: Tree, style: Style) -> str:
    kind = t[0]
    if kind == "atom":
        return str(t[1])
    if kind == "ref":
        if style.qualified and t[1] != style.module:
            return f"{t[1]}.{t[2]}"
        return str(t[2])
    if kind == "Optional":
        return f"Optional[{render(t[1], style)}]"
    if kind == "Union":
        return f"Union[{', '.join(render(a, style) for a in t[1])}]"
    if kind == "G":
        return f"{t[1]}[{', '.join(render(a, style) for a in t[2])}]"
    raise ValueError(t)


def refs(t: Tree) -> list[tuple[str, str]]:
    if t[0] == "ref":
        return [(t[1], t[2])]
    if t[0] == "Optional":
        return refs(t[1])
    if t[0] == "Union":
        return [r for a in t[1] for r in refs(a)]
    if t[0] == "G":
        return [r for a in t[2] for r in refs(a)]
    return []


def typing_names(t: Tree) -> set[str]:
    names: set[str] = set()
    if t[0] == "atom" and t[1] in ("Any", "Dict", "List"):
        names.add(str(t[1]))
    elif t[0] in ("Optional", "Union"):
        names.add(t[0])
        for a in (t[1],) if t[0] == "Optional" else t[1]:
            names |= typing_names(a)
    elif t[0] == "G":
        if t[1] in ("List", "Dict"):
            names.add(t[1])
        for a in t[2]:
            names |= typing_names(a)
    return names


_SCALARS = {"str": "str", "bool": "bool", "float": "float", "int": "int", "Integer": "int",
            "DateTime": "str", "Any": "Any"}  # fmt: skip


def _split_top(expr: str, sep: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    i = 0
    while i < len(expr):
        c = expr[i]
        if c in "[(":
            depth += 1
        elif c in "])":
            depth -= 1
        if depth == 0 and expr.startswith(sep, i):
            parts.append(cur)
            cur, i = "", i + len(sep)
            continue
        cur += c
        i += 1
    return [*parts, cur]


def schema_base(expr: str) -> str:
    """A ``gen_messages`` type expression without its constraints (``Annotated``/``Meta``)."""
    alts = _split_top(expr, " | ")
    if len(alts) == 2 and schema_base(alts[0]) == "int":  # draft-06 integer (QUIRKS Q1)
        return "int"
    if len(alts) != 1:
        raise ValueError(f"unsupported union {expr}")
    if expr.startswith("Annotated[") and expr.endswith("]"):
        return schema_base(_split_top(expr[len("Annotated[") : -1], ", ")[0])
    m = re.fullmatch(r"list\[(.*)\]", expr)
    if m:
        return f"list[{schema_base(m.group(1))}]"
    if re.fullmatch(r"String\d+", expr):
        return "str"
    if re.fullmatch(r"(?:U?Int|Integer)\w*", expr):  # integer aliases (Integer, a range alias)
        return "int"
    return expr


# --- the model of one version --------------------------------------------------------------------
@dataclasses.dataclass
class Field:
    name: str
    tree: Tree
    default: str | None  # rendered default expression, None when required
    from_mh: set[str]  # which facts came from introspection: "annotation", "default", "name"
    enum_default: str | None = None  # the enum class of an enum member default


@dataclasses.dataclass
class Klass:
    name: str
    fields: list[Field]
    schema: str | None  # the schema type it was matched to
    wires: dict[str, str]  # field name -> wire key


@dataclasses.dataclass
class EnumClass:
    name: str
    base: str  # "StrEnum" or "int"
    members: list[tuple[str, Any]]


class CompatModel:
    def __init__(self, package: str) -> None:
        self.package = package
        root = gm.schema_root()
        self.schema = gm.VersionModel(package, root / gm.VERSIONS[package][2] / "schemas")
        self.schema.load()
        self.mh = {m: importlib.import_module(f"ocpp.{package}.{m}") for m in MODULES}
        self.styles = {m: self._style(m) for m in MODULES}
        self.stats: dict[str, Counter[str]] = {m: Counter() for m in MODULES}
        self.notes: dict[str, list[str]] = {m: [] for m in MODULES}
        self.enum_map: dict[str, str] = {}  # schema enum name -> mh enum name
        self.struct_map: dict[str, str] = {}  # schema struct name -> mh datatype name
        self.enums = self._enums()
        self.schema_defaults = self._read_schema_defaults()
        for s, mh in list(self.enum_map.items()):  # Q7 twins such as UnitOfMeasure_StopTransaction
            for twin in self.schema.enums:
                if twin.startswith(s + "_"):
                    self.enum_map.setdefault(twin, mh)
        for cls in self._defined("datatypes"):  # map every nested type before deriving fields
            names = [f.name for f in dataclasses.fields(cls)]
            struct = self._schema_struct("datatypes", cls.__name__, names)
            if struct is not None:
                self._map_struct(struct.name, cls.__name__, "datatypes")
        self.classes = {m: self._dataclasses(m) for m in ("datatypes", "call", "call_result")}

    def _defined(self, module: str) -> list[Any]:
        mod = self.mh[module]
        return [
            c for c in vars(mod).values() if inspect.isclass(c) and c.__module__ == mod.__name__
        ]

    def _style(self, module: str) -> Style:
        mod = self.mh[module]
        qualified = any(isinstance(getattr(mod, k, None), types.ModuleType) for k in MODULES)
        future = (
            getattr(mod, "annotations", None) is importlib.import_module("__future__").annotations
        )
        return Style(module, qualified, future)

    # -- enums --
    def _enums(self) -> list[EnumClass]:
        out = []
        stats = self.stats["enums"]
        by_values: dict[frozenset[str], list[str]] = {}
        for name, e in self.schema.enums.items():
            by_values.setdefault(frozenset(e.values), []).append(name)
        mh_names = {cls.__name__ for cls in self._defined("enums")}
        for cls in self._defined("enums"):
            if not issubclass(cls, enum.Enum):  # v16 CiStringType(int): plain int constants
                consts = [(k, v) for k, v in vars(cls).items() if not k.startswith("_")]
                out.append(EnumClass(cls.__name__, cls.__bases__[0].__name__, consts))
                stats["int constant classes read from ocpp==2.1.0"] += 1
                continue
            if not issubclass(cls, enum.StrEnum):
                raise TypeError(f"{cls}: not a StrEnum")
            mh_members = [(k, m.value) for k, m in cls.__members__.items()]
            values = [v for _, v in mh_members]
            derived: list[str] | None = None
            if cls.__name__ == "Action":
                actions = [a for a, _, resp, _ in self.schema.actions if resp is not None]
                derived = sorted(actions)
            else:
                snames = [cls.__name__] if cls.__name__ in self.schema.enums else []
                if not snames:  # a schema enum of another name with these values, unless the
                    # schema name is itself a mobilityhouse enum (1.6 X and GenericStatus)
                    snames = [n for n in by_values.get(frozenset(values), []) if n not in mh_names]
                for s in snames:
                    self.enum_map[s] = cls.__name__
                if snames:
                    derived = self.schema.enums[snames[0]].values
            if derived is None:
                stats["enums only in ocpp==2.1.0 (read whole)"] += 1
                out.append(EnumClass(cls.__name__, "StrEnum", mh_members))
                continue
            namer = mh_camel_to_snake if cls.__name__ == "Action" else gm.enum_member
            proposal = [(namer(v), v) for v in derived]
            if proposal == mh_members:
                stats["enums derived from the schemas"] += 1
                out.append(EnumClass(cls.__name__, "StrEnum", proposal))
            else:
                stats["enums whose member names/values/order were read (differ)"] += 1
                self.notes["enums"].append(f"{cls.__name__}: {_enum_diff(proposal, mh_members)}")
                out.append(EnumClass(cls.__name__, "StrEnum", mh_members))
        # schema enums that took another name in mobilityhouse (v16, security extension)
        return out

    # -- dataclasses --
    def _schema_struct(self, module: str, name: str, fieldnames: list[str]) -> gm.StructDef | None:
        if module == "call":
            return next((s for s in self.schema.messages if s.name == f"{name}Request"), None)
        if module == "call_result":
            return next((s for s in self.schema.messages if s.name == f"{name}Response"), None)
        for cand in (name, f"{name}Type"):
            if cand in self.schema.structs:
                return self.schema.structs[cand]
        wanted = set(fieldnames)
        for s in self.schema.structs.values():
            if {mh_camel_to_snake(f.wire) for f in s.fields} == wanted:
                return s
        return None

    def _dataclasses(self, module: str) -> list[Klass]:
        out = []
        stats = self.stats[module]
        for cls in self._defined(module):
            if not dataclasses.is_dataclass(cls):
                raise ValueError(f"{cls}: not a dataclass")
            hints = typing.get_type_hints(cls)
            mh_fields = dataclasses.fields(cls)
            struct = self._schema_struct(module, cls.__name__, [f.name for f in mh_fields])
            if struct is None:
                stats["classes with no schema type (read whole)"] += 1
                self.notes[module].append(f"{cls.__name__}: no schema type")
            else:
                self._map_struct(struct.name, cls.__name__, module)
            fields = []
            wires: dict[str, str] = {}
            for f in mh_fields:
                mh_tree = tree_of_hint(hints[f.name], self.package)
                mh_default = self._default(f, module)
                sf = None
                if struct is not None:
                    sf = match_field(struct, f.name)
                    if sf is not None:
                        wires[f.name] = sf.wire
                from_mh = set()
                if sf is None:
                    from_mh = {"name", "annotation", "default"}
                    stats["fields with no schema key (read whole)"] += 1
                    tree, default = mh_tree, mh_default
                else:
                    derived_tree, default = self._derive(struct.name, sf, module)
                    tree = mh_tree
                    if derived_tree != mh_tree:
                        from_mh.add("annotation")
                        stats["annotations read (differ from schema)"] += 1
                    else:
                        stats["annotations derived from the schemas"] += 1
                    if default != mh_default:
                        from_mh.add("default")
                        stats["defaults read (differ from schema)"] += 1
                        default = mh_default
                if from_mh:
                    self.notes[module].append(
                        f"{cls.__name__}.{f.name}: {' and '.join(sorted(from_mh))} read"
                    )
                enum_default = (
                    type(f.default).__name__ if isinstance(f.default, enum.Enum) else None
                )
                fields.append(Field(f.name, tree, default, from_mh, enum_default))
            stats["fields"] += len(fields)
            if struct is not None:
                missing = [f.wire for f in struct.fields if f.wire not in wires.values()]
                if missing == ["customData"]:
                    stats["classes without the schema's customData"] += 1
                elif missing:
                    self.notes[module].append(
                        f"{cls.__name__}: schema keys absent in ocpp==2.1.0: {', '.join(missing)}"
                    )
            out.append(Klass(cls.__name__, fields, struct.name if struct else None, wires))
        return out

    def _map_struct(self, sname: str, mhname: str, module: str) -> None:
        if module == "datatypes":
            self.struct_map[sname] = mhname
            for twin in self.schema.structs:  # Q7/Q9 twins such as MeterValue_StopTransaction
                if twin.startswith(sname + "_"):
                    self.struct_map.setdefault(twin, mhname)

    def _default(self, f: dataclasses.Field[Any], module: str) -> str | None:
        if f.default_factory is not dataclasses.MISSING:
            if f.default_factory is not list:
                raise ValueError(f"unsupported default_factory {f.default_factory!r}")
            return "field(default_factory=list)"
        if f.default is dataclasses.MISSING:
            return None
        d = f.default
        if isinstance(d, enum.Enum):
            return f"{render(('ref', 'enums', type(d).__name__), self.styles[module])}.{d.name}"
        if d is None or isinstance(d, (bool, int, float, str)):
            return repr(d)
        raise ValueError(f"unsupported default {d!r}")

    def _derive(self, owner: str, sf: gm.FieldDef, module: str) -> tuple[Tree, str | None]:
        """The annotation and default a schema property gives (rendered default or None)."""
        tree = self._tree_of_schema(sf)
        if sf.required:
            return tree, None
        value = self.schema_defaults.get((owner, sf.wire), _NO_DEFAULT)
        if value is _NO_DEFAULT or self.package not in APPLIES_SCHEMA_DEFAULTS:
            return tree, "None"
        tree = tree[1]  # not Optional: the schema's default stands in for an absent value
        if tree[0] == "ref" and tree[1] == "enums":
            member = next(
                (m for e in self.enums if e.name == tree[2] for m, v in e.members if v == value),
                None,
            )
            if member is None:
                raise ValueError(f"{owner}.{sf.wire}: default {value!r} is no member of {tree[2]}")
            return tree, f"{render(tree, self.styles[module])}.{member}"
        return tree, repr(value)

    def _read_schema_defaults(self) -> dict[tuple[str, str], Any]:
        """``(type name, wire key) -> the schema's default`` (``VersionModel`` drops ``default``,
        an annotation for validation; mobilityhouse's 2.1 models use it as the field default)."""
        out: dict[tuple[str, str], Any] = {}
        for name in self.schema.schema_files:
            node = json.loads((self.schema.schema_dir / name).read_text(encoding="utf-8-sig"))
            stem = name[: -len(".json")]
            top = stem if stem.endswith(("Request", "Response")) else f"{stem}Request"
            defs = node.get("definitions", {})
            for owner, obj in [(top, node), *defs.items()]:
                for wire, prop in obj.get("properties", {}).items():
                    ref = prop.get("$ref", "").rsplit("/", 1)[-1]
                    if "default" in prop:
                        out[(owner, wire)] = prop["default"]
                    elif "default" in defs.get(ref, {}):  # an enumeration with a default
                        out[(owner, wire)] = defs[ref]["default"]
        return out

    def _tree_of_schema(self, sf: gm.FieldDef) -> Tree:
        def conv(expr: str) -> Tree:
            expr = schema_base(expr)
            m = re.fullmatch(r"list\[(.*)\]", expr)
            if m:
                return ("G", "List", (conv(m.group(1)),))
            if expr in _SCALARS:
                return ("atom", _SCALARS[expr])
            if expr in self.schema.enums:
                return ("ref", "enums", self.enum_map.get(expr, f"?{expr}"))
            if expr in self.schema.structs:
                if expr not in self.struct_map:  # no mobilityhouse dataclass: a plain dict
                    return ("G", "Dict", (("atom", "str"), ("atom", "Any")))
                return ("ref", "datatypes", self.struct_map[expr])
            raise ValueError(f"unsupported schema type {expr}: teach gen_compat.schema_base")

        tree = conv(sf.type_expr)
        return tree if sf.required else ("Optional", tree)


def match_field(struct: gm.StructDef, name: str) -> gm.FieldDef | None:
    """The schema property behind a mobilityhouse field: by its camel_to_snake name, else by
    its snake_to_camel key (v201 ``language_1`` <-> ``language1``), else by the same letters
    (v21 ``prioritized_emaids`` <-> ``prioritizedEMAIDs``, which mobilityhouse misconverts)."""
    rules = (
        lambda f: mh_camel_to_snake(f.wire) == name,
        lambda f: f.wire == mh_snake_to_camel(name),
        lambda f: f.wire.lower() == name.replace("_", ""),
    )
    for rule in rules:
        found = [f for f in struct.fields if rule(f)]
        if found:
            return found[0]
    return None


def _enum_diff(proposal: list[tuple[str, str]], actual: list[tuple[str, Any]]) -> str:
    if [v for _, v in proposal] == [v for _, v in actual]:
        names = sum(a != b for (a, _), (b, _) in zip(proposal, actual, strict=True))
        return f"{names} member name(s) differ"
    if sorted(v for _, v in proposal) == sorted(v for _, v in actual):
        return "member order differs"
    extra = len({v for _, v in actual} - {v for _, v in proposal})
    lack = len({v for _, v in proposal} - {v for _, v in actual})
    return f"{extra} value(s) not in the schema, {lack} schema value(s) absent"


# --- rendering -----------------------------------------------------------------------------------
def header(model: CompatModel, module: str, what: str) -> str:
    version = importlib.metadata.version("ocpp")
    pkg = model.package
    lines = [
        f"# Generated by {GENERATOR} -- do not edit; rerun the generator instead.",
        (
            f"# Input: ocpp=={version} (mobilityhouse) ocpp/{gm.VERSIONS[pkg][2]}/schemas, "
            f"{len(model.schema.schema_files)} JSON schema files ({gm.VERSIONS[pkg][1]}), read by "
            "tools/gen_messages.py's VersionModel;"
        ),
        (
            f"# and the installed module ocpp.{pkg}.{module} (ocpp=={version}), introspected for "
            "class and field order, import spelling, and the facts counted below."
        ),
        f"# {what}",
    ]
    stats = model.stats.get(module)
    if stats:
        lines.append("# Facts: " + "; ".join(f"{k}: {v}" for k, v in sorted(stats.items())) + ".")
    for note in model.notes.get(module, []):
        lines.append(f"#   {note}")
    return "".join(textwrap_comment(line) for line in lines)


def textwrap_comment(line: str) -> str:
    if len(line) <= 100:
        return line + "\n"
    out, cur = [], ""
    for word in line.split(" "):
        if cur and len(cur) + 1 + len(word) > 100:
            out.append(cur)
            cur = "#   " + word
        else:
            cur = f"{cur} {word}" if cur else word
    out.append(cur)
    return "\n".join(out) + "\n"


def mh_imports(model: CompatModel, module: str) -> dict[str, set[str]]:
    """Names the mobilityhouse module binds from elsewhere, grouped by our source module."""
    mod = model.mh[module]
    out: dict[str, set[str]] = {}
    for name, value in vars(mod).items():
        if name.startswith("_") or name == "annotations":
            continue
        if isinstance(value, types.ModuleType):
            src = value.__name__.rsplit(".", 1)[-1]
            if src in MODULES:
                out.setdefault(".", set()).add(name)
            continue
        owner = getattr(value, "__module__", None)
        if inspect.isclass(value) and owner == mod.__name__:
            continue
        if owner in (f"ocpp.{model.package}.enums", f"ocpp.{model.package}.datatypes"):
            out.setdefault("." + owner.rsplit(".", 1)[-1], set()).add(name)
        elif name in ("dataclass", "field"):
            out.setdefault("dataclasses", set()).add(name)
        elif name in ("Any", "Dict", "List", "Optional", "Union"):
            out.setdefault("typing", set()).add(name)
        elif name in ("StrEnum", "Enum"):
            out.setdefault("enum", set()).add(name)
        else:
            raise ValueError(f"ocpp.{model.package}.{module}.{name}: unexpected import")
    return out


def import_block(imports: dict[str, set[str]], future: bool) -> str:
    lines = ["from __future__ import annotations\n\n"] if future else []
    order = ["dataclasses", "enum", "typing"]
    for src in order:
        if imports.get(src):
            lines.append(f"from {src} import {', '.join(sorted(imports[src]))}\n")
    local = [s for s in sorted(imports) if s.startswith(".")]
    if local:
        lines.append("\n")
    for src in local:
        names = sorted(imports[src])
        if len(names) <= 3:
            lines.append(f"from {src} import {', '.join(names)}\n")
        else:
            lines.append(f"from {src} import (\n" + "".join(f"    {n},\n" for n in names) + ")\n")
    return "".join(lines)


def render_enums(model: CompatModel) -> str:
    human = gm.VERSIONS[model.package][1]
    imports = mh_imports(model, "enums")
    parts = [
        header(model, "enums", "Enumerations, as mobilityhouse ocpp names them (enum.StrEnum)."),
        f'"""Enumerations of {human}, shaped like ``ocpp.{model.package}.enums``."""\n\n',
        import_block(imports, False),
    ]
    for e in model.enums:
        parts.append(f"\n\nclass {e.name}({e.base}):\n")
        if e.name == "Action":
            parts.append(
                '    """The actions of ' + human + ' (member: snake_case, value: wire name)."""\n\n'
            )
        else:
            parts.append(f'    """``{e.name}``."""\n\n')
        for name, value in e.members:
            # a member named like a str method (v201 ``count``) shadows it, as in mobilityhouse
            shadows = e.base == "StrEnum" and hasattr(str, name)
            ignore = "  # type: ignore[assignment]" if shadows else ""
            parts.append(f"    {name} = {value!r}{ignore}\n")
    return "".join(parts)


def render_dataclasses(model: CompatModel, module: str) -> str:
    human = gm.VERSIONS[model.package][1]
    style = model.styles[module]
    imports = mh_imports(model, module)
    for k in model.classes[module]:
        for f in k.fields:
            imports.setdefault("typing", set()).update(typing_names(f.tree))
            for kind, name in refs(f.tree):
                if kind != module:
                    if style.qualified:
                        imports.setdefault(".", set()).add(kind)
                    else:
                        imports.setdefault(f".{kind}", set()).add(name)
            if f.default and f.default.startswith("field("):
                imports.setdefault("dataclasses", set()).add("field")
            if f.enum_default:
                if style.qualified:
                    imports.setdefault(".", set()).add("enums")
                else:
                    imports.setdefault(".enums", set()).add(f.enum_default)
    imports.setdefault("dataclasses", set()).add("dataclass")
    what = {
        "call": "CALL payloads, one dataclass per action (mobilityhouse names, order, defaults).",
        "call_result": "CALLRESULT payloads, one dataclass per action (mobilityhouse names, order, defaults).",
        "datatypes": "Nested data types as dataclasses (mobilityhouse names, order, defaults).",
    }[module]
    parts = [
        header(model, module, what),
        f'"""{human}: ``ocpp.{model.package}.{module}``-shaped dataclasses."""\n\n',
        import_block(imports, style.future),
    ]
    for k in model.classes[module]:
        parts.append(f"\n\n@dataclass\nclass {k.name}:\n")
        src = f" (schema ``{k.schema}``)" if k.schema else ""
        parts.append(f'    """``{k.name}``{src}."""\n')
        if k.fields:
            parts.append("\n")
        for f in k.fields:
            default = f" = {f.default}" if f.default is not None else ""
            parts.append(f"    {f.name}: {render(f.tree, style)}{default}\n")
    return "".join(parts)


def nested_of(model: CompatModel, expr: str) -> str | None:
    base = schema_base(expr)
    m = re.fullmatch(r"list\[(.*)\]", base)
    if m:
        base = schema_base(m.group(1))
    return base if base in model.schema.structs else None


def render_keys(model: CompatModel) -> str:
    schema = model.schema
    types_ = list(schema.messages) + list(schema.structs.values())
    aliases: dict[str, dict[str, str]] = {}  # schema type -> {wire: mh field name} if not snake
    unmatched: dict[str, set[str]] = {}
    for module in ("datatypes", "call", "call_result"):
        for k in model.classes[module]:
            if k.schema:
                for f in k.fields:
                    wire = k.wires.get(f.name)
                    if wire is None:
                        unmatched.setdefault(k.schema, set()).add(f.name)
                    elif mh_camel_to_snake(wire) != f.name:
                        aliases.setdefault(k.schema, {})[wire] = f.name
    to_wire, from_wire, wrong = [], [], []
    for s in sorted(types_, key=lambda s: s.name):
        tw, fw = [], []
        for f in s.fields:
            snake = mh_camel_to_snake(f.wire)
            nested = nested_of(model, f.type_expr)
            tw.append((snake, f.wire, nested))
            alias = aliases.get(s.name, {}).get(f.wire)
            if alias is not None:  # the mh dataclass field name differs from camel_to_snake
                tw.append((alias, f.wire, nested))
            fw.append((f.wire, snake, nested))
            if mh_snake_to_camel(snake) != f.wire:
                wrong.append((s.name, snake, f.wire, mh_snake_to_camel(snake)))
        if unmatched.get(s.name):
            raise ValueError(f"{s.name}: mh fields without a wire key: {unmatched[s.name]}")
        to_wire.append((s.name, tw))
        from_wire.append((s.name, fw))

    def q(value: str | None) -> str:
        return "None" if value is None else json.dumps(value)

    def table(rows: list[tuple[str, list[tuple[str, str, str | None]]]]) -> str:
        out = []
        for name, items in rows:
            if not items:
                out.append(f"    {q(name)}: {{}},\n")
                continue
            out.append(f"    {q(name)}: {{\n")
            for a, b, n in items:
                out.append(f"        {q(a)}: ({q(b)}, {q(n)}),\n")
            out.append("    },\n")
        return "".join(out)

    actions = [f"    {q(a)}: ({q(req)}, {q(resp)}),\n" for a, req, resp, _ in schema.actions]
    wrong_wire = sorted({(w, m) for _, _, w, m in wrong})
    field_names = []
    for tname in sorted(aliases):
        items = "".join(f"        {q(w)}: {q(n)},\n" for w, n in aliases[tname].items())
        field_names.append(f"    {q(tname)}: {{\n{items}    }},\n")
    human = gm.VERSIONS[model.package][1]
    doc = f"""Wire keys of {human}: mobilityhouse's snake_case names <-> the schemas' keys.

Tables for the compat runtime, so keys convert by lookup (no regexes on the hot path), and right.

- ``ACTIONS[action] = (request type, response type or None)``. Type names are the schema's, as in
  ``ocppfast.{model.package}``: ``<Action>Request``, ``<Action>Response`` and nested definitions.
- ``TO_WIRE[type][snake] = (wire key, nested type or None)``. ``snake`` is mobilityhouse's
  ``camel_to_snake_case`` of the wire key; where mobilityhouse's dataclass field is spelled
  otherwise (see ``MH_FIELD_NAMES``) that spelling is a key too. ``nested`` names the type of an
  object value or of an array's object items. None means a scalar, an array of scalars, or a
  free-form value (``DataTransfer.data``), which mobilityhouse converts with its generic rule, as
  it does for keys a type does not list (``customData`` vendor extensions).
- ``FROM_WIRE[type][wire] = (snake, nested)``: the inverse, with the snake name mobilityhouse hands
  to handlers (its ``camel_to_snake_case``).
- ``MH_FIELD_NAMES[type][wire] = field``: the mobilityhouse dataclass fields whose names are not
  ``camel_to_snake_case`` of their key (building one from ``FROM_WIRE`` names fails there).
- ``MH_MISCONVERTED[wire] = snake_to_camel_case(camel_to_snake_case(wire))`` in mobilityhouse,
  where that is not ``wire`` ({len(wrong_wire)} keys): mobilityhouse sends those keys wrong.
"""
    parts = [
        f"# Generated by {GENERATOR} -- do not edit; rerun the generator instead.\n",
        (
            f"# Input: ocpp=={importlib.metadata.version('ocpp')} (mobilityhouse) "
            f"ocpp/{gm.VERSIONS[model.package][2]}/schemas, {len(schema.schema_files)} JSON "
            f"schema files ({human}), read by\n# tools/gen_messages.py's VersionModel; the field "
            f"names of the installed ocpp.{model.package} dataclasses (MH_FIELD_NAMES).\n"
        ),
        f'"""{doc}"""\n\n',
        "ACTIONS: dict[str, tuple[str, str | None]] = {\n",
        *actions,
        "}\n\n",
        "TO_WIRE: dict[str, dict[str, tuple[str, str | None]]] = {\n",
        table(to_wire),
        "}\n\n",
        "FROM_WIRE: dict[str, dict[str, tuple[str, str | None]]] = {\n",
        table(from_wire),
        "}\n\n",
        "MH_FIELD_NAMES: dict[str, dict[str, str]] = {\n",
        *field_names,
        "}\n\n",
        "MH_MISCONVERTED: dict[str, str] = {\n",
        *[f"    {q(w)}: {q(m)},\n" for w, m in wrong_wire],
        "}\n",
    ]
    return "".join(parts)


def generate(out: Path) -> None:
    for package in gm.VERSIONS:
        model = CompatModel(package)
        target = out / package
        target.mkdir(parents=True, exist_ok=True)
        files = {
            "enums.py": render_enums(model),
            "datatypes.py": render_dataclasses(model, "datatypes"),
            "call.py": render_dataclasses(model, "call"),
            "call_result.py": render_dataclasses(model, "call_result"),
            "_keys.py": render_keys(model),
        }
        for name, text in files.items():
            (target / name).write_text(text, encoding="utf-8", newline="\n")


GENERATED = ("enums.py", "datatypes.py", "call.py", "call_result.py", "_keys.py")


def compare(new: Path, old: Path) -> list[str]:
    """The generated files under ``new`` that are missing or different under ``old``."""
    result = []
    for package in gm.VERSIONS:
        for name in GENERATED:
            a, b = new / package / name, old / package / name
            if not b.exists() or not filecmp.cmp(a, b, shallow=False):
                result.append(f"compat/{package}/{name}")
    return result


def stale(out: Path) -> list[str]:
    """Generated files under ``out`` that differ from a fresh generation."""
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        return compare(Path(tmp), out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="receives v16/, v201/, v21/")
    parser.add_argument("--check", action="store_true", help="compare with --out, do not write")
    args = parser.parse_args(argv)
    if not args.check:
        generate(args.out)
        return 0
    bad = stale(args.out)
    if bad:
        print("stale generated files: " + ", ".join(bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
