#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<target>/ (small valid inputs).

    python3 fuzz/make_corpus.py [path/to/strata]

Everything is built here from engine/FORMAT.md and the wire formats, except
the block_open and the second wal_replay seeds: those are real files of a
data directory written by `strata serve` (the binary given, default
target/debug/strata; skipped with a warning when it is missing). Existing
seed files are overwritten; other files in the directories are left alone.
Only the standard library is used.
"""

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import gzip
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- encodings


def uvarint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def varint(n):
    return uvarint((n << 1) ^ (n >> 63) if n < 0 else n << 1)


def pb_key(field, wire):
    return uvarint(field << 3 | wire)


def pb_bytes(field, data):
    if isinstance(data, str):
        data = data.encode()
    return pb_key(field, 2) + uvarint(len(data)) + data


def pb_varint(field, n):
    return pb_key(field, 0) + uvarint(n & 0xFFFFFFFFFFFFFFFF)


def pb_double(field, v):
    return pb_key(field, 1) + struct.pack("<d", v)


def snappy(raw, copies=True):
    """Snappy block format: literals, plus 2-byte-offset copies of repeats
    found by a naive search (valid, not optimal)."""
    out = bytearray(uvarint(len(raw)))
    lit_start = 0
    i = 0

    def literal(data):
        n = len(data) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out.extend([60 << 2, n])
        else:
            out.extend([61 << 2, n & 0xFF, n >> 8])
        out.extend(data)

    while i < len(raw):
        best = (0, 0)
        if copies and i >= 4:
            lo = max(0, i - 65535)
            j = raw.find(raw[i : i + 4], lo, i)
            while j != -1 and j < i:
                n = 0
                while i + n < len(raw) and raw[j + n] == raw[i + n] and n < 64:
                    n += 1
                if n > best[0]:
                    best = (n, i - j)
                j = raw.find(raw[i : i + 4], j + 1, i)
        if best[0] >= 4:
            if lit_start < i:
                literal(raw[lit_start:i])
            n, off = best
            out.append(((n - 1) << 2) | 2)
            out.extend(struct.pack("<H", off))
            i += n
            lit_start = i
        else:
            i += 1
    if lit_start < len(raw):
        literal(raw[lit_start:])
    return bytes(out)


# ------------------------------------------------------------ remote write/read


def timeseries(labels, samples):
    body = b"".join(
        pb_bytes(1, pb_bytes(1, n) + pb_bytes(2, v)) for n, v in labels
    )
    body += b"".join(
        pb_bytes(2, pb_double(1, v) + pb_varint(2, t)) for t, v in samples
    )
    return pb_bytes(1, body)


def metadata(kind, name, help_, unit):
    return pb_bytes(
        3, pb_varint(1, kind) + pb_bytes(2, name) + pb_bytes(4, help_) + pb_bytes(5, unit)
    )


def remote_write():
    t0 = 1_700_000_000_000
    up = timeseries(
        [("__name__", "up"), ("instance", "localhost:9100"), ("job", "node")],
        [(t0, 1.0), (t0 + 15_000, 1.0)],
    )
    put("remote_write_decode", "one_series", snappy(up, copies=False))
    many = b"".join(
        timeseries(
            [("__name__", "http_requests_total"), ("code", str(c)), ("path", "/api/v1/query")],
            [(t0 + i * 15_000, float(c * i)) for i in range(8)],
        )
        for c in (200, 404, 500)
    )
    many += metadata(1, "http_requests_total", "Requests by code.", "")
    put("remote_write_decode", "three_series_with_metadata", snappy(many))
    special = timeseries(
        [("__name__", "odd_values"), ("le", "+Inf"), ("utf8", "h\u00e9llo \u2603")],
        [
            (t0, float("nan")),
            (t0 + 1, float("inf")),
            (t0 + 2, -0.0),
            (-1, 5e-324),
        ],
    )
    # Prometheus' staleness marker, written bit for bit.
    special += pb_bytes(
        1,
        pb_bytes(1, pb_bytes(1, "__name__") + pb_bytes(2, "stale"))
        + pb_bytes(2, pb_key(1, 1) + struct.pack("<Q", 0x7FF0000000000002) + pb_varint(2, t0)),
    )
    put("remote_write_decode", "special_values", snappy(special))
    # Refused by the label checks: empty name, duplicate name, bad name.
    bad = timeseries([("", "x"), ("a", "1"), ("a", "2"), ("1bad", "v")], [(t0, 1.0)])
    put("remote_write_decode", "bad_labels", snappy(bad))
    put("remote_write_decode", "empty_request", snappy(b""))


def remote_write_v2():
    """io.prometheus.write.v2.Request bodies (snappy), as Prometheus 3 sends
    them with `protobuf_message: io.prometheus.write.v2.Request`."""
    t0 = 1_700_000_000_000
    symbols = ["", "__name__", "http_requests_total", "code", "200", "job", "api",
               "Requests served.", "requests", "trace_id", "abc123", "latency_seconds"]
    syms = b"".join(pb_bytes(4, s) for s in symbols)

    def refs(rs):
        return pb_bytes(1, b"".join(uvarint(r) for r in rs))

    def sample(t, v, start=0):
        return pb_bytes(2, pb_double(1, v) + pb_varint(2, t) + (pb_varint(3, start) if start else b""))

    counter = pb_bytes(5, refs([1, 2, 3, 4, 5, 6])
                       + sample(t0, 10.0, t0 - 60_000) + sample(t0 + 15_000, 12.5, t0 - 60_000)
                       + pb_bytes(4, refs([9, 10]) + pb_double(2, 1.0) + pb_varint(3, t0))
                       + pb_bytes(5, pb_varint(1, 1) + pb_varint(3, 7) + pb_varint(4, 8)))
    put("remote_write_v2_decode", "series_metadata_exemplar", snappy(syms + counter))
    histogram = pb_bytes(3, pb_varint(1, 3) + pb_double(3, 0.75) + pb_varint(4, 6)
                         + pb_bytes(11, pb_varint(1, 0) + pb_varint(2, 2))
                         + pb_bytes(12, uvarint(2) + uvarint(0)) + pb_varint(15, t0))
    hist = pb_bytes(5, refs([1, 11, 5, 6]) + histogram + pb_bytes(5, pb_varint(1, 3)))
    put("remote_write_v2_decode", "native_histogram", snappy(syms + hist + counter))
    # rc.3: created_timestamp on the series; label refs unpacked; symbols
    # after the series that use them.
    old = pb_bytes(5, pb_varint(1, 1) + pb_varint(1, 2) + sample(t0, 1.0) + pb_varint(6, t0 - 1000))
    put("remote_write_v2_decode", "created_timestamp_unpacked_refs", snappy(old + syms, copies=False))
    bad = pb_bytes(5, refs([1, 99]) + sample(t0, 1.0))
    put("remote_write_v2_decode", "reference_out_of_range", snappy(syms + bad))
    put("remote_write_v2_decode", "empty_request", snappy(b""))


def matcher(kind, name, value):
    return pb_bytes(3, pb_varint(1, kind) + pb_bytes(2, name) + pb_bytes(3, value))


def remote_read():
    t0 = 1_700_000_000_000
    q = pb_varint(1, t0) + pb_varint(2, t0 + 3_600_000) + matcher(0, "__name__", "up")
    put("remote_read_decode", "one_query", snappy(pb_bytes(1, q), copies=False))
    q2 = (
        pb_varint(1, t0)
        + pb_varint(2, t0 + 60_000)
        + matcher(2, "__name__", "http_.*_total")
        + matcher(1, "code", "200")
        + matcher(3, "path", "/api/v1/(query|series)")
    )
    req = pb_bytes(1, q) + pb_bytes(1, q2) + pb_key(2, 2) + uvarint(2) + bytes([1, 0])
    put("remote_read_decode", "two_queries_streamed_first", snappy(req))
    q3 = pb_varint(1, (-1) & 0xFFFFFFFFFFFFFFFF) + pb_varint(2, 2**63 - 1) + matcher(2, "job", "(a|b)+[^c]*")
    put("remote_read_decode", "all_time_regex", snappy(pb_bytes(1, q3)))


# ------------------------------------------------------------- text formats


def decompress_seeds():
    """decompress_bounded: a little-endian u16 cap, then the body."""
    cap = lambda n: struct.pack("<H", n)
    text = b'up{job="a"} 1\n' * 40
    put("decompress_bounded", "gzip_text", cap(4096) + gzip.compress(text, mtime=0))
    put("decompress_bounded", "gzip_over_cap", cap(100) + gzip.compress(b"\0" * 1000, mtime=0))
    two = gzip.compress(b"a 1\n", mtime=0) + gzip.compress(b"b 2\n", mtime=0)
    put("decompress_bounded", "gzip_two_members", cap(64) + two)
    # `zstd -19` of text + b"zeros " + 3000 zero bytes (3566 bytes).
    frame = bytes.fromhex(
        "28b52ffd0468050100a875707b6a6f623d2261227d20310a7a65726f7320000200"
        "b4737de3435453091de7c00e"
    )
    put("decompress_bounded", "zstd_text_and_zeros", cap(8192) + frame)
    put("decompress_bounded", "zstd_over_cap", cap(1000) + frame)
    put("decompress_bounded", "snappy_text", cap(4096) + snappy(text))
    # 10 bytes declaring 250 MiB: refused before anything is allocated.
    put("decompress_bounded", "snappy_bomb", cap(65535) + (uvarint(250 << 20) + b"\0" * 10)[:10])
    put("decompress_bounded", "identity", cap(16) + b"not compressed at all")


def text_formats():
    for i, q in enumerate(
        [
            "up",
            'sum by (job) (rate(http_requests_total{code=~"5..",job!="x"}[5m]))',
            "histogram_quantile(0.9, sum by (le) (rate(request_seconds_bucket[1m]))) > bool 0.5",
            "max_over_time(deriv(node_load1[10m:30s] offset 1h)[1h:] @ 1700000000)",
            '-(a + on(instance) group_left(job) b) * 2 ^ 3 % 4 or label_replace(c, "x", "$1", "y", "(.*)")',
            'count_values("v", topk(3, {__name__=~"up|down"}))',
        ]
    ):
        put("promql_parse", f"query_{i}", q)
    put(
        "exposition_parse",
        "node_exporter",
        "# HELP node_load1 1m load average.\n"
        "# TYPE node_load1 gauge\n"
        "node_load1 0.21\n"
        "# TYPE http_requests_total counter\n"
        'http_requests_total{code="200",method="get"} 1027 1700000000000\n'
        'http_requests_total{code="400",method="post"} 3 1700000000000\n',
    )
    put(
        "exposition_parse",
        "histogram_and_escapes",
        "# TYPE rpc_seconds histogram\n"
        'rpc_seconds_bucket{le="0.1"} 1\n'
        'rpc_seconds_bucket{le="+Inf"} 4\n'
        "rpc_seconds_sum 1.5e+00\n"
        "rpc_seconds_count 4\n"
        'escaped{path="C:\\\\dir\\"x\\"\\n"} NaN\n'
        "inf_value -Inf\n"
        "# EOF\n",
    )
    put(
        "jsonl_parse",
        "two_lines",
        '{"metric":{"__name__":"up","job":"node"},"values":[1,0.5],"timestamps":[1700000000000,1700000015000]}\n'
        '{"metric":{"__name__":"temp","room":"a b"},"values":[null,"Infinity","-Infinity","NaN"],'
        '"timestamps":[1,2,3,4]}\r\n',
    )
    put(
        "jsonl_parse",
        "escapes_and_exponents",
        '{"metric":{"__name__":"x","v":"\\u00e9\\"\\n"},"values":[1e308,-2.5E-3],"timestamps":[-5,0]}\n',
    )
    put(
        "influx_parse",
        "telegraf",
        "# telegraf\n"
        "cpu,cpu=cpu-total,host=h1 usage_user=1.5,usage_idle=97i 1700000000000000000\n"
        "mem,host=h1 available=8589934592u,swap=true,state=\"ok, \\\"fine\\\"\" 1700000000000000000\r\n"
        "disk free=4\n",
    )
    put(
        "influx_parse",
        "escapes_and_errors",
        "my\\ meas\\,x,t\\ k=v\\,1\\=2\\\\ f\\=x=-inf,g=NaN -5\n"
        ",=x f=1\n"
        "bad f=abc\n"
        "bad\n"
        "bad f=\"open\n",
    )


# ------------------------------------------------------------------- engine


def wal_record(kind, payload):
    body = bytes([kind]) + struct.pack(">I", len(payload)) + payload
    return b"\xa5" + body[:5] + struct.pack(">I", zlib.crc32(body)) + payload


def wal_segment():
    header = struct.pack(">I", 0x5354574C) + b"\x01"
    labels = [("__name__", "up"), ("job", "node")]
    series = uvarint(2)
    for ref, inst in ((1, "a"), (2, "b")):
        ls = labels + [("instance", inst)]
        ls.sort()
        series += uvarint(ref) + uvarint(len(ls))
        for n, v in ls:
            series += uvarint(len(n)) + n.encode() + uvarint(len(v)) + v.encode()
    samples = uvarint(4)
    prev_ref, prev_t = 0, 0
    for ref, t, v in ((1, 1000, 1.0), (2, 1000, 0.0), (1, 2000, 1.0), (2, 2000, float("nan"))):
        samples += varint(ref - prev_ref) + varint(t - prev_t) + struct.pack(">d", v)
        prev_ref, prev_t = ref, t
    deletes = uvarint(1) + uvarint(2) + varint(500) + varint(1500)
    seg = header + wal_record(1, series) + wal_record(2, samples) + wal_record(3, deletes)
    put("wal_replay", "series_samples_deletes", seg)
    put("wal_replay", "header_only", header)


def chunks():
    # FORMAT.md's golden chunk: (1000, 1.0) (2000, 1.0) (3000, 2.5) (4005, 2.5).
    put("chunk_decode", "golden", bytes.fromhex("0004" "00000000000003e8" "3ff0000000000000" "83e8309bffd80050"))
    # 12-byte (delta u32 LE, value bits u64 LE) groups for the round trip.
    groups = b""
    for delta, v in ((15_000, 1.0), (15_000, 1.5), (14_999, -3.0), (1, float("nan")), (0xFFFFFFFF, 1e300)):
        groups += struct.pack("<I", delta) + struct.pack("<d", v)
    put("chunk_decode", "samples_for_round_trip", groups)


# -------------------------------------------------- from a real data directory


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http(addr, method, path, body=None, headers=None):
    req = urllib.request.Request(f"http://{addr}{path}", data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, r.read()


def from_server(strata):
    if not os.path.exists(strata):
        print(f"warning: {strata} missing: block_open and WAL seeds from a real data dir skipped", file=sys.stderr)
        return
    tmp = tempfile.mkdtemp(prefix="strata-corpus-")
    data = os.path.join(tmp, "data")
    addr = f"127.0.0.1:{free_port()}"
    log = open(os.path.join(tmp, "strata.log"), "wb")
    proc = subprocess.Popen([strata, "serve", "--listen", addr, "--data-dir", data], stdout=log, stderr=log)
    try:
        for _ in range(200):
            try:
                if http(addr, "GET", "/-/ready")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        t0 = (int(time.time()) - 3600) * 1000
        # Many small series, few samples: the index outweighs the chunks.
        body = b"".join(
            timeseries(
                [("__name__", "seed_metric"), ("instance", f"host-{i}"), ("job", "fuzz")],
                [(t0 + k * 15_000, float(i * 10 + k)) for k in range(6)],
            )
            for i in range(12)
        )
        headers = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf"}
        assert http(addr, "POST", "/api/v1/write", snappy(body), headers)[0] == 204
        wal = os.path.join(data, "wal")
        segs = sorted(f for f in os.listdir(wal) if f.isdigit())
        with open(os.path.join(wal, segs[-1]), "rb") as f:
            put("wal_replay", "from_strata", f.read())
        assert http(addr, "GET", "/internal/force_flush")[0] in (200, 204)
        blocks = os.path.join(data, "blocks")
        block = os.path.join(blocks, sorted(os.listdir(blocks))[0])
        files = {}
        for name in ("meta", "index", "chunks/000001"):
            with open(os.path.join(block, name), "rb") as f:
                files[name] = f.read()
        put("block_open", "from_strata", block_seed(files["meta"], files["index"], files["chunks/000001"]))
    finally:
        proc.terminate()
        proc.wait()
        log.close()
        shutil.rmtree(tmp)


def block_seed(meta, index, chunk):
    """The block_open target splits its input into meta (first third),
    index (half of the rest) and chunks (the rest). Pad the meta before its
    crc (the decoder ignores bytes after the sources; the crc is redone) and
    the chunk segment at its end so the split falls on the file boundaries."""
    i = len(index)
    for r in range(3):
        m = i - r // 2
        total = 3 * m + r
        c = total - m - i
        if m >= len(meta) and c >= len(chunk):
            body = meta[:-4] + b"\0" * (m - len(meta))
            padded_meta = body + struct.pack(">I", zlib.crc32(body))
            seed = padded_meta + index + chunk + b"\0" * (c - len(chunk))
            a = len(seed) // 3
            rest = len(seed) - a
            assert (a, rest // 2) == (m, i), (a, rest // 2, m, i)
            return seed
    print("warning: chunks larger than the index: block_open seed is not a valid block", file=sys.stderr)
    return meta + index + chunk


def main():
    strata = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "target", "debug", "strata")
    remote_write()
    remote_write_v2()
    remote_read()
    decompress_seeds()
    text_formats()
    wal_segment()
    chunks()
    from_server(strata)
    total = 0
    for root, _, names in os.walk(CORPUS):
        total += sum(os.path.getsize(os.path.join(root, n)) for n in names)
    print(f"corpus: {total} bytes in {CORPUS}")


if __name__ == "__main__":
    main()
