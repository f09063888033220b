"""Does the typed base of the generated requests (``ocppfast.message.Request[Response]``, a
``Generic`` msgspec Struct) cost anything? Each message's generated request class against a
plain ``msgspec.Struct`` with the same fields and options (built with ``msgspec.defstruct``),
in the same run, interleaved: decode+validate, encode, convert from a dict, construct.

    .venv/bin/python -m benchmarks.bench_struct_base            # prints a table of ratios
    .venv/bin/python -m benchmarks.bench_struct_base --json out.json

A ratio is generated/plain of the best of ``--repeat`` rounds (1.00 = the same speed).
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
from typing import Any

import msgspec

from .bench_messages import MESSAGES


def plain_copy(cls: type[msgspec.Struct]) -> type[msgspec.Struct]:
    """The same fields, names and options on a plain ``msgspec.Struct`` base."""
    fields = [
        (
            f.name,
            f.type,
            msgspec.field(name=f.encode_name)
            if f.required
            else msgspec.field(default=f.default, name=f.encode_name),
        )
        for f in msgspec.structs.fields(cls)
    ]
    return msgspec.defstruct(
        cls.__name__,
        fields,
        kw_only=True,
        omit_defaults=True,
        forbid_unknown_fields=cls.__struct_config__.forbid_unknown_fields,
        module=cls.__module__,
    )


def operations(cls: type[msgspec.Struct], payload: dict[str, Any]) -> dict[str, Any]:
    """The four timed operations on ``cls``, as callables without arguments."""
    data = msgspec.json.encode(payload)
    decoder = msgspec.json.Decoder(cls)
    encode = msgspec.json.Encoder().encode
    obj = decoder.decode(data)
    assert encode(obj) == encode(decoder.decode(encode(obj)))
    kwargs = {f: getattr(obj, f) for f in cls.__struct_fields__}
    return {
        "decode": lambda: decoder.decode(data),
        "encode": lambda: encode(obj),
        "convert": lambda: msgspec.convert(payload, cls),
        "construct": lambda: cls(**kwargs),
    }


def measure(number: int, repeat: int) -> list[dict[str, Any]]:
    """Rounds alternate between the two classes, so both see the same machine load."""
    rows = []
    for label, module, _, action, payload in MESSAGES:
        generated = module.ACTIONS[action].request
        ops = {
            "generated": operations(generated, payload),
            "plain": operations(plain_copy(generated), payload),
        }
        times: dict[str, dict[str, float]] = {"generated": {}, "plain": {}}
        for op in ops["plain"]:
            for _ in range(repeat):
                for name in ("generated", "plain"):
                    t = timeit.timeit(ops[name][op], number=number) / number
                    times[name][op] = min(times[name].get(op, t), t)
        rows.append(
            {
                "message": label,
                **times,
                "ratio": {op: times["generated"][op] / times["plain"][op] for op in times["plain"]},
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--number", type=int, default=20000, help="calls per round")
    parser.add_argument("--repeat", type=int, default=7, help="rounds; the best one counts")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    rows = measure(args.number, args.repeat)
    print("| message | decode | encode | convert | construct |  (generated / plain)")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        r = row["ratio"]
        print(
            f"| {row['message']} | {r['decode']:.2f} | {r['encode']:.2f} | {r['convert']:.2f} "
            f"| {r['construct']:.2f} |"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
