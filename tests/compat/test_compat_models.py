"""ocppfast.compat.v16 / v201 / v21 model modules against the installed mobilityhouse ocpp==2.1.0.

The walk compares every class, field (name, position, default, annotation), enum member (name,
value, order) and module-level name of ``ocpp.<version>.{enums,datatypes,call,call_result}`` with
ours, and must find zero differences. The comparison code here is independent of the generator.
"""

from __future__ import annotations

import dataclasses
import enum
import filecmp
import importlib
import inspect
import json
import subprocess
import sys
import types
import typing
from pathlib import Path
from typing import Any

import ocpp.charge_point
import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
VERSIONS = ("v16", "v201", "v21")
MODULES = ("enums", "datatypes", "call", "call_result")
GENERATED = ("enums.py", "datatypes.py", "call.py", "call_result.py", "_keys.py")

# (version, module) -> number of classes, and the enum member total (verified on mobilityhouse)
SIZES = {
    ("v16", "call"): 39, ("v16", "call_result"): 39, ("v16", "datatypes"): 11,
    ("v16", "enums"): 49,  # 48 StrEnums + CiStringType(int)
    ("v201", "call"): 64, ("v201", "call_result"): 64, ("v201", "datatypes"): 54,
    ("v201", "enums"): 176,
    ("v21", "call"): 90, ("v21", "call_result"): 90, ("v21", "datatypes"): 121,
    ("v21", "enums"): 111,
}  # fmt: skip
MEMBERS = {"v16": (48, 317), "v201": (176, 1294), "v21": (111, 689)}


def pair(version: str, module: str) -> tuple[types.ModuleType, types.ModuleType]:
    theirs = importlib.import_module(f"ocpp.{version}.{module}")
    ours = importlib.import_module(f"ocppfast.compat.{version}.{module}")
    # the reference must be the installed package, not ours aliased by compat.install()
    assert theirs is not ours and theirs.__name__ == f"ocpp.{version}.{module}"
    assert Path(theirs.__file__ or "").parent.parent == Path(ocpp.charge_point.__file__).parent
    return theirs, ours


def short_module(name: str) -> str:
    """``ocpp.v16.enums`` and ``ocppfast.compat.v16.enums`` -> ``v16.enums``."""
    for prefix in ("ocppfast.compat.", "ocpp."):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def canon(hint: Any) -> str:
    """An annotation in a form that is equal exactly when the two mean the same type."""
    if hint is type(None):
        return "None"
    if hint is Any:
        return "Any"
    if hint in (typing.Dict, typing.List):  # noqa: UP006
        return repr(hint)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        return "Union[" + ", ".join(sorted(canon(a) for a in args)) + "]"
    if origin is not None:
        kind = "builtin" if isinstance(hint, types.GenericAlias) else "typing"
        return f"{kind}:{origin.__name__}[" + ", ".join(canon(a) for a in args) + "]"
    if inspect.isclass(hint):
        if hint.__module__ == "builtins":
            return hint.__name__
        return f"{short_module(hint.__module__)}.{hint.__qualname__}"
    raise AssertionError(f"unexpected annotation {hint!r}")


def written(annotation: Any) -> str:
    """The annotation as the class holds it (a string under ``from __future__ import annotations``),
    with module paths made comparable: checks that ours is rendered the same way."""
    text = annotation if isinstance(annotation, str) else str(annotation)
    return text.replace("ocppfast.compat.", "ocpp.")


def default_of(f: dataclasses.Field[Any]) -> str:
    if f.default_factory is not dataclasses.MISSING:
        return f"factory:{f.default_factory.__module__}.{f.default_factory.__qualname__}"
    if f.default is dataclasses.MISSING:
        return "required"
    d = f.default
    if isinstance(d, enum.Enum):
        return f"{type(d).__name__}.{d.name}={d.value!r}"
    return f"{type(d).__name__}:{d!r}"


def defined(mod: types.ModuleType) -> list[Any]:
    return [c for c in vars(mod).values() if inspect.isclass(c) and c.__module__ == mod.__name__]


def class_differences(where: str, theirs: Any, ours: Any) -> list[str]:
    out = []
    if [b.__name__ for b in theirs.__mro__] != [b.__name__ for b in ours.__mro__]:
        out.append(f"{where}: bases {theirs.__mro__} != {ours.__mro__}")
    if dataclasses.is_dataclass(theirs) != dataclasses.is_dataclass(ours):
        return [*out, f"{where}: dataclass or not"]
    if dataclasses.is_dataclass(theirs):
        if repr(theirs.__dataclass_params__) != repr(ours.__dataclass_params__):  # type: ignore[union-attr]
            out.append(f"{where}: dataclass parameters differ")
        a, b = dataclasses.fields(theirs), dataclasses.fields(ours)
        if [f.name for f in a] != [f.name for f in b]:
            out.append(f"{where}: fields {[f.name for f in a]} != {[f.name for f in b]}")
            return out
        hints_a, hints_b = typing.get_type_hints(theirs), typing.get_type_hints(ours)
        for fa, fb in zip(a, b, strict=True):
            w = f"{where}.{fa.name}"
            if canon(hints_a[fa.name]) != canon(hints_b[fb.name]):
                out.append(
                    f"{w}: annotation {canon(hints_a[fa.name])} != {canon(hints_b[fb.name])}"
                )
            if written(fa.type) != written(fb.type):
                out.append(f"{w}: written as {written(fa.type)!r} != {written(fb.type)!r}")
            if default_of(fa) != default_of(fb):
                out.append(f"{w}: default {default_of(fa)} != {default_of(fb)}")
            for flag in ("init", "kw_only", "repr", "compare"):
                if getattr(fa, flag) != getattr(fb, flag):
                    out.append(f"{w}: {flag} differs")
    elif issubclass(theirs, enum.Enum):
        ma = [(k, m.value) for k, m in theirs.__members__.items()]
        mb = [(k, m.value) for k, m in ours.__members__.items()]
        if ma != mb:
            out.append(f"{where}: members differ: {sorted(set(ma) ^ set(mb))[:5]} (or their order)")
    else:  # v16 CiStringType(int): plain int constants
        va = {k: v for k, v in vars(theirs).items() if not k.startswith("_")}
        vb = {k: v for k, v in vars(ours).items() if not k.startswith("_")}
        if va != vb:
            out.append(f"{where}: class attributes {va} != {vb}")
    return out


def module_differences(version: str, module: str) -> list[str]:
    theirs, ours = pair(version, module)
    where = f"{version}.{module}"
    out = []
    a, b = defined(theirs), defined(ours)
    if [c.__name__ for c in a] != [c.__name__ for c in b]:
        missing = sorted({c.__name__ for c in a} - {c.__name__ for c in b})
        extra = sorted({c.__name__ for c in b} - {c.__name__ for c in a})
        out.append(f"{where}: classes differ (missing {missing}, extra {extra}, or their order)")
    ours_by_name = {c.__name__: c for c in b}
    for cls in a:
        if cls.__name__ in ours_by_name:
            out += class_differences(f"{where}.{cls.__name__}", cls, ours_by_name[cls.__name__])
    # every other module-level name (imports user code may reach for: enums, datatypes, Optional)
    public_a = {k for k in vars(theirs) if not k.startswith("_")}
    public_b = {k for k in vars(ours) if not k.startswith("_")}
    for name in sorted(public_a ^ public_b):
        out.append(f"{where}: module name {name!r} only in {'mh' if name in public_a else 'ours'}")
    for name in sorted(public_a & public_b):
        va, vb = getattr(theirs, name), getattr(ours, name)
        if isinstance(va, types.ModuleType):
            same = isinstance(vb, types.ModuleType) and short_module(va.__name__) == short_module(
                vb.__name__
            )
        elif inspect.isclass(va) and va.__module__.startswith("ocpp."):
            same = inspect.isclass(vb) and canon(va) == canon(vb)
        else:
            same = va is vb
        if not same:
            out.append(f"{where}: module name {name!r} is {va!r} there, {vb!r} here")
    return out


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("version", VERSIONS)
def test_zero_differences_with_mobilityhouse(version: str, module: str) -> None:
    differences = module_differences(version, module)
    assert differences == [], f"{len(differences)} differences:\n" + "\n".join(differences)


def test_the_walk_sees_differences() -> None:
    """The comparison is not vacuous: it reports a changed default, annotation, order, member."""

    @dataclasses.dataclass
    class A:
        x: int
        y: typing.Optional[str] = None  # noqa: UP045

    @dataclasses.dataclass
    class B:
        x: int
        y: typing.Optional[int] = None  # noqa: UP045

    @dataclasses.dataclass
    class C:
        y: typing.Optional[str] = None  # noqa: UP045
        x: int = 0

    @dataclasses.dataclass
    class D:
        x: int
        y: typing.Optional[str] = "s"  # noqa: UP045

    class E1(enum.StrEnum):
        a = "A"
        b = "B"

    class E2(enum.StrEnum):
        b = "B"
        a = "A"

    assert class_differences("A", A, A) == []
    assert any("annotation" in d for d in class_differences("A", A, B))
    assert any("fields" in d for d in class_differences("A", A, C))
    assert any("default" in d for d in class_differences("A", A, D))
    assert any("members" in d for d in class_differences("E", E1, E2))


def test_sizes() -> None:
    for (version, module), count in SIZES.items():
        theirs, ours = pair(version, module)
        assert len(defined(ours)) == len(defined(theirs)) == count, (version, module)
    for version, (enums_, members) in MEMBERS.items():
        mod = importlib.import_module(f"ocppfast.compat.{version}.enums")
        strenums = [c for c in defined(mod) if issubclass(c, enum.StrEnum)]
        assert (len(strenums), sum(len(c.__members__) for c in strenums)) == (enums_, members)
        for module in ("call", "call_result", "datatypes"):
            mod = importlib.import_module(f"ocppfast.compat.{version}.{module}")
            assert all(dataclasses.is_dataclass(c) for c in defined(mod))


def test_positional_construction_as_in_mobilityhouse() -> None:
    from ocpp.v16 import call as mh16
    from ocpp.v16 import call_result as mh16r
    from ocpp.v201 import call as mh201

    from ocppfast.compat.v16 import call as c16
    from ocppfast.compat.v16 import call_result as c16r
    from ocppfast.compat.v16 import enums as e16
    from ocppfast.compat.v201 import call as c201
    from ocppfast.compat.v201 import enums as e201

    ours = c16.ChangeAvailability(1, e16.AvailabilityType.inoperative)
    theirs = mh16.ChangeAvailability(1, "Inoperative")
    assert (
        dataclasses.asdict(ours)
        == dataclasses.asdict(theirs)
        == {
            "connector_id": 1,
            "type": "Inoperative",
        }
    )
    # lbbrhzn/ocpp (Home Assistant): call.ChangeAvailability(status, evse={"id": n})
    ours201 = c201.ChangeAvailability(e201.OperationalStatusEnumType.operative, {"id": 2})
    theirs201 = mh201.ChangeAvailability("Operative", {"id": 2})
    assert dataclasses.asdict(ours201) == dataclasses.asdict(theirs201)
    assert ours201.evse == {"id": 2} and ours201.custom_data is None
    assert c16r.Authorize(id_tag_info={"status": "Accepted"}) == c16r.Authorize(
        {"status": "Accepted"}
    )
    assert dataclasses.asdict(c16r.Authorize({"status": "Accepted"})) == dataclasses.asdict(
        mh16r.Authorize({"status": "Accepted"})
    )
    assert c16.MeterValues(1).meter_value == [] == mh16.MeterValues(1).meter_value
    # the quirk: tech_info is Optional[str] with no default, so it is required in both
    for module in (mh16, c16):
        with pytest.raises(TypeError):
            module.SecurityEventNotification("t", "2024-01-01T00:00:00Z")  # type: ignore[call-arg]
        assert module.SecurityEventNotification("t", "x", None).tech_info is None
    with pytest.raises(TypeError):
        c16.ChangeAvailability(1)  # type: ignore[call-arg]


def test_enums_behave_as_strenum() -> None:
    from ocpp.v16 import enums as mh16
    from ocpp.v201 import enums as mh201

    from ocppfast.compat.v16 import enums as e16
    from ocppfast.compat.v21 import enums as e21
    from ocppfast.compat.v201 import enums as e201

    r = e16.RegistrationStatus
    assert r("Accepted") is r.accepted
    assert hash(r.accepted) == hash("Accepted") and r.accepted == "Accepted"
    assert str(r.accepted) == f"{r.accepted}" == "Accepted"
    assert json.dumps({"status": r.accepted}) == '{"status": "Accepted"}'
    assert {"Accepted": 1}[r.accepted] == 1
    assert r.accepted == mh16.RegistrationStatus.accepted
    assert e201.RegistrationStatusEnumType("Pending") is e201.RegistrationStatusEnumType.pending
    assert e16.Action.boot_notification == "BootNotification" == mh16.Action.boot_notification
    assert e21.Action("AFRRSignal") is e21.Action.afrr_signal
    assert (
        e201.ControllerComponentName.ocpp_comm_ctrlr
        == mh201.ControllerComponentName.ocpp_comm_ctrlr
    )
    assert e16.CiStringType.ci_string_20 == 20 and issubclass(e16.CiStringType, int)
    assert e16.ConfigurationKey.heartbeat_interval == "HeartbeatInterval"
    with pytest.raises(ValueError):
        r("accepted")


def test_keys_tables() -> None:
    """_keys: every mh field maps to its schema key, and v2.1's misconverted keys are right."""

    def mh_snake_to_camel(key: str) -> str:
        return next(iter(ocpp.charge_point.snake_to_camel_case({key: 1})))

    def mh_camel_to_snake(key: str) -> str:
        return next(iter(ocpp.charge_point.camel_to_snake_case({key: 1})))

    for version in VERSIONS:
        keys = importlib.import_module(f"ocppfast.compat.{version}._keys")
        call = importlib.import_module(f"ocppfast.compat.{version}.call")
        result = importlib.import_module(f"ocppfast.compat.{version}.call_result")
        for action, (req, resp) in keys.ACTIONS.items():
            for module, tname in ((call, req), (result, resp)):
                cls = getattr(module, action, None)
                if cls is None or tname is None:
                    assert (version, action) == ("v21", "NotifyPeriodicEventStream")
                    continue
                for f in dataclasses.fields(cls):
                    wire = keys.TO_WIRE[tname][f.name][0]
                    if keys.FROM_WIRE[tname][wire][0] != f.name:
                        assert keys.MH_FIELD_NAMES[tname][wire] == f.name
                    else:
                        assert wire not in keys.MH_FIELD_NAMES.get(tname, {})
        wrong = {}
        for tname, table in keys.FROM_WIRE.items():
            for wire, (snake, nested) in table.items():
                assert snake == mh_camel_to_snake(wire)  # what mh hands to handlers
                assert keys.TO_WIRE[tname][snake] == (wire, nested)
                if mh_snake_to_camel(snake) != wire:
                    wrong[wire] = mh_snake_to_camel(snake)
            for snake, (wire, nested) in keys.TO_WIRE[tname].items():
                assert table[wire][1] == nested
        assert wrong == keys.MH_MISCONVERTED
        assert (len(wrong) > 0) == (version == "v21")
    k21 = importlib.import_module("ocppfast.compat.v21._keys")
    assert len(k21.MH_MISCONVERTED) == 43
    assert k21.MH_MISCONVERTED["fixedPF"] == "fixedPf"
    assert k21.MH_MISCONVERTED["limit_L2"] == "limitL2"
    assert k21.TO_WIRE["BootNotificationRequest"]["charging_station"] == (
        "chargingStation",
        "ChargingStationType",
    )
    # mh's field name that its own camel_to_snake never produces still maps to the right key
    assert k21.TO_WIRE["Get15118EVCertificateRequest"]["prioritized_emaids"][0] == (
        "prioritizedEMAIDs"
    )
    assert k21.MH_FIELD_NAMES["AuthorizeRequest"] == {
        "iso15118CertificateHashData": "iso_15118_certificate_hash_data"
    }
    k201 = importlib.import_module("ocppfast.compat.v201._keys")
    assert k201.TO_WIRE["IdTokenInfoType"]["language_1"] == ("language1", None)
    assert k201.TO_WIRE["DataTransferRequest"]["data"] == ("data", None)  # free-form


def test_generated_headers() -> None:
    for version in VERSIONS:
        for name in GENERATED:
            head = (ROOT / "ocppfast" / "compat" / version / name).read_text().splitlines()[:2]
            assert head[0].startswith("# Generated by tools/gen_compat.py"), (version, name)
            assert f"ocpp==2.1.0 (mobilityhouse) ocpp/{version}/schemas" in head[1]


def test_regenerating_changes_nothing(tmp_path: Path) -> None:
    """``tools/gen_messages.py --out`` writes the compat models too; they equal the committed
    files byte for byte; ``tools/gen_compat.py --check`` notices a stale file."""
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_messages.py"), "--out", str(tmp_path)],
        check=True,
    )
    for version in VERSIONS:
        for name in GENERATED:
            committed = ROOT / "ocppfast" / "compat" / version / name
            assert filecmp.cmp(tmp_path / "compat" / version / name, committed, shallow=False), (
                f"ocppfast/compat/{version}/{name} is stale: run tools/gen_messages.py"
            )
    check = [sys.executable, str(ROOT / "tools" / "gen_compat.py"), "--check"]
    assert subprocess.run(check, check=False).returncode == 0
    (tmp_path / "compat" / "v16" / "call.py").write_text("# edited\n")
    for tool, out in (("gen_compat.py", tmp_path / "compat"), ("gen_messages.py", tmp_path)):
        stale = subprocess.run(
            [sys.executable, str(ROOT / "tools" / tool), "--out", str(out), "--check"],
            check=False,
            capture_output=True,
            text=True,
        )
        assert stale.returncode == 1 and "compat/v16/call.py" in stale.stderr, tool
