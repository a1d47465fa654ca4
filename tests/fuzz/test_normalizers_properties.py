"""Property tests for every normalizer: any payload in, never an uncaught exception; every rejection has a reason."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.worker.normalize import NORMALIZERS
from services.worker.normalize.rows import Batch, Context
from shared.values import TimeWindow

CONTEXT = Context(window=TimeWindow(2000, 86_400))
EXAMPLES = 150  # per normalizer: bounded so the suite stays fast

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=12), inner, max_size=5)),
    max_leaves=25,
)
times = st.one_of(
    st.integers(-(2**63), 2**63),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01 00:00:00", "1767225600000", "now", ""]),
)
records = st.dictionaries(
    st.sampled_from(
        [
            "@t",
            "@ts",
            "ts",
            "time",
            "values",
            "device",
            "readings",
            "value",
            "field1",
            "temperature",
            "created_at",
            "delta_t",
            "entry_id",
            "tag",
        ]
    ),
    st.one_of(json_values, times),
    max_size=6,
)
documents = st.one_of(
    json_values,
    records,
    st.lists(records, max_size=4),
    st.fixed_dictionaries({"readings": st.lists(records, max_size=4)}),
    st.fixed_dictionaries({"entries": st.lists(records, max_size=4)}),
)
lineproto = st.one_of(
    st.text(max_size=120),
    st.builds(
        lambda m, t, f, v, ts: f"{m}{t} {f}={v} {ts}",
        st.text(max_size=10),
        st.sampled_from(["", ",a=b", ",=", ",a"]),
        st.text(max_size=8),
        st.sampled_from(["1", "1i", "-1u", "t", '"s"', "1e999", "nan", ""]),
        st.sampled_from(["", "1767225600000000000", "-1", "99999999999999999999"]),
    ),
)
texts = st.one_of(
    documents.map(json.dumps),  # stdlib json: also NaN and integers past 64 bits
    lineproto,
    st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
)
entries = st.lists(
    st.fixed_dictionaries(
        {"values": st.dictionaries(st.text(max_size=8), st.text(max_size=10), max_size=4)},
        optional={"at": times, "dt": st.one_of(scalars, times), "lat": scalars},
    ),
    max_size=4,
)
# The queue contract fixes each format's payload type (the receivers build it); its content is anything.
PAYLOADS = {
    "push": st.dictionaries(st.text(max_size=12), st.text(max_size=20), max_size=6),
    "bulk": st.fixed_dictionaries({"entries": entries}),
    "lineproto": lineproto,
}
params = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from(["precision", "created_at", "timezone", "entry_id", "entries", "reason", "format", "topic"]),
        st.one_of(scalars, times),
        max_size=4,
    ),
)


def message(fmt: str, payload, extra, device, received_at) -> dict:
    built = {"format": fmt, "dataset_id": 1, "payload": payload, "received_at": received_at, "source": "http"}
    if device is not None:
        built["device"] = device
    if extra:
        built["params"] = extra
    return built


@pytest.mark.parametrize("fmt", sorted(NORMALIZERS))
def test_normalizer_never_raises_and_every_rejection_has_a_reason(fmt):
    normalizer = NORMALIZERS[fmt]

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(
        PAYLOADS.get(fmt, texts),
        params,
        st.one_of(st.none(), st.text(max_size=10)),
        st.floats(min_value=946_684_800, max_value=1_900_000_000),
    )
    def check(payload, extra, device, received_at):
        batch = Batch()
        normalizer(message(fmt, payload, extra, device, received_at), CONTEXT, batch)
        for reject in batch.rejects:
            reason = reject[5]
            assert isinstance(reason, str) and reason.strip(), reject
        for row in batch.rows:
            assert row[0] == 1  # rows stay in the message's dataset

    check()
