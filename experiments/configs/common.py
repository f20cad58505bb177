"""Parsing config arguments of the form `key=value,key=value` (big_vision style)."""

import ml_collections

SCALES = ("paper", "cpu", "smoke")


def parse_arg(arg: str | None, **defaults) -> ml_collections.ConfigDict:
    """`"norm=batch,scale=cpu"` -> ConfigDict, typed after `defaults`; unknown keys fail."""
    values = dict(defaults)
    for item in filter(None, (arg or "").split(",")):
        key, sep, raw = item.partition("=")
        if not sep or key not in defaults:
            raise ValueError(f"bad config argument {item!r}; expected key=value with key in "
                             f"{', '.join(defaults)}")
        kind = type(defaults[key])
        values[key] = raw.lower() in ("1", "true", "yes") if kind is bool else kind(raw)
    if values.get("scale") not in SCALES:
        raise ValueError(f"unknown scale {values.get('scale')!r}; valid scales are "
                         f"{', '.join(SCALES)}")
    return ml_collections.ConfigDict(values)
