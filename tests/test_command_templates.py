"""Template rendering properties: text outside {{ name }} is copied byte for byte and every
value parses back to the same double (RELIABILITY I6, E4)."""

from __future__ import annotations

import math
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from uqkit.models._templates import PLACEHOLDER, Template, format_value

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
doubles = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(chunks=st.lists(text.filter(lambda s: "{{" not in s and "}}" not in s and
                                   not s.endswith("{") and not s.startswith("}")),
                       min_size=1, max_size=5),
       values=st.lists(doubles, min_size=5, max_size=5))
def test_literal_text_verbatim_and_values_exact(chunks, values):
    names = [f"p{i}" for i in range(len(chunks))]
    source = "".join(c + "{{ " + n + " }}" for c, n in zip(chunks, names, strict=True))
    t = Template(source, "file")
    assert t.names == set(names)
    rendered = t.render(dict(zip(names, values, strict=False)))
    pos = 0
    for c, v in zip(chunks, values, strict=False):
        assert rendered.startswith(c, pos)
        pos += len(c)
        m = format_value(v)
        assert rendered.startswith(m, pos)
        pos += len(m)
        back = float(m)
        assert struct.pack("<d", back) == struct.pack("<d", v)  # bit-exact, -0.0 included
    assert pos == len(rendered)


@given(doubles)
def test_format_value_round_trips(v):
    back = float(format_value(v))
    assert back == v and math.copysign(1.0, back) == math.copysign(1.0, v)


def test_placeholder_syntax():
    assert [m.group(1) for m in PLACEHOLDER.finditer("{{a}} {{ b_1 }} {{  C  }} { {d} } {{1x}}")] \
        == ["a", "b_1", "C"]
    t = Template("int m[2][2] = {{1, 2}, {3, 4}}; x = {{x}};", "c")
    assert t.names == {"x"} and t.suspicious() == []
    assert Template("{{ a-b }}", "f").suspicious() == ["{{ a-b }}"]
    assert Template("{{ dt:.17e }} {{n : 5d}}", "f").specs == (("dt", ".17e"), ("n", "5d"))
    assert Template("{{ dt:.17e }} {{n : 5d}}", "f").render({"dt": 0.5, "n": 3.0}) == \
        f"{0.5:.17e}     3"
