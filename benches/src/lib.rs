//! criterion benchmarks live in `benches/`; this library holds the data
//! they share.

/// Series per host in [`node_series`].
pub const SERIES_PER_HOST: usize = 100;

const CPU_MODES: [&str; 8] = [
    "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
];
const NET_METRICS: [&str; 3] = [
    "node_network_receive_bytes_total",
    "node_network_receive_packets_total",
    "node_network_transmit_bytes_total",
];
const NET_DEVICES: [&str; 4] = ["docker0", "eth0", "eth1", "lo"];
const FS_METRICS: [&str; 3] = [
    "node_filesystem_avail_bytes",
    "node_filesystem_free_bytes",
    "node_filesystem_size_bytes",
];
const FS_MOUNTS: [(&str, &str, &str); 4] = [
    ("/dev/nvme0n1p1", "ext4", "/"),
    ("/dev/nvme0n1p2", "ext4", "/var"),
    ("/dev/nvme1n1", "xfs", "/data"),
    ("tmpfs", "tmpfs", "/run"),
];
const GAUGES: [&str; 12] = [
    "node_boot_time_seconds",
    "node_context_switches_total",
    "node_intr_total",
    "node_load1",
    "node_load15",
    "node_load5",
    "node_memory_Buffers_bytes",
    "node_memory_Cached_bytes",
    "node_memory_MemAvailable_bytes",
    "node_memory_MemTotal_bytes",
    "node_procs_blocked",
    "node_procs_running",
];

/// The `instance` label of host `host`: `10.0.<host / 250>.<host % 250>:9100`.
pub fn instance(host: usize) -> String {
    format!("10.0.{}.{}:9100", host / 250, host % 250)
}

/// Labels of series `i` of a fleet of node_exporters, sorted by name as
/// Prometheus sends them. Each host (`i / 100`) has 100 series: 64
/// `node_cpu_seconds_total` (8 cpus x 8 modes), 12 network counters
/// (3 metrics x 4 devices), 12 filesystem gauges (3 metrics x 4 mounts)
/// and 12 single-series metrics; all carry `instance` and `job="node"`.
pub fn node_series(i: usize) -> Vec<(String, String)> {
    let (host, k) = (i / SERIES_PER_HOST, i % SERIES_PER_HOST);
    let mut l: Vec<(&str, String)> = vec![("instance", instance(host)), ("job", "node".into())];
    match k {
        0..64 => {
            l.push(("__name__", "node_cpu_seconds_total".into()));
            l.push(("cpu", (k / 8).to_string()));
            l.push(("mode", CPU_MODES[k % 8].into()));
        }
        64..76 => {
            let k = k - 64;
            l.push(("__name__", NET_METRICS[k / 4].into()));
            l.push(("device", NET_DEVICES[k % 4].into()));
        }
        76..88 => {
            let k = k - 76;
            let (device, fstype, mountpoint) = FS_MOUNTS[k % 4];
            l.push(("__name__", FS_METRICS[k / 4].into()));
            l.push(("device", device.into()));
            l.push(("fstype", fstype.into()));
            l.push(("mountpoint", mountpoint.into()));
        }
        _ => l.push(("__name__", GAUGES[k - 88].into())),
    }
    l.sort_by(|a, b| a.0.cmp(b.0));
    l.into_iter().map(|(n, v)| (n.to_owned(), v)).collect()
}

/// [`node_series`] as borrowed pairs.
pub fn as_pairs(labels: &[(String, String)]) -> Vec<(&str, &str)> {
    labels
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

/// [`node_series`] as engine [`strata_engine::Labels`].
pub fn node_labels(i: usize) -> strata_engine::Labels {
    strata_engine::Labels::from_pairs(&as_pairs(&node_series(i)))
        .expect("node_series labels are valid")
}

/// The value of series `i` in the ingest benches' requests (remote_write
/// 1.0 and 2.0, OTLP, line protocol: the same samples in every format).
pub fn sample_value(i: usize) -> f64 {
    (i * 7919 % 100_000) as f64 * 0.25
}

/// The timestamp of series `i`'s sample in a request sent at `t` (ms).
pub fn sample_time(t: i64, i: usize) -> i64 {
    t + (i % 13) as i64
}

/// A remote_write 1.0 request: one sample ([`sample_value`] at
/// [`sample_time`]) for each of the first `series` [`node_series`].
pub fn remote_write_request(
    series: usize,
    t: i64,
) -> strata_server::formats::remote_write::WriteRequest {
    use strata_server::formats::remote_write::{Label, Sample, TimeSeries, WriteRequest};
    WriteRequest {
        timeseries: (0..series)
            .map(|i| TimeSeries {
                labels: node_series(i)
                    .into_iter()
                    .map(|(name, value)| Label { name, value })
                    .collect(),
                samples: vec![Sample {
                    value: sample_value(i),
                    timestamp: sample_time(t, i),
                }],
            })
            .collect(),
        metadata: Vec::new(),
    }
}

/// What the remote_write 1.0 handler does with a body (decompress into a
/// reused buffer, walk, `Appender::append_raw`, commit), asserting that
/// `series` samples were stored: the baseline the other ingest benches
/// compare with.
///
/// # Panics
/// When the body does not decode or the storage refuses it.
pub fn remote_write_ingest(
    storage: &strata_engine::Storage,
    buf: &mut Vec<u8>,
    body: &[u8],
    series: usize,
) {
    use strata_server::formats::remote_write;
    use strata_server::formats::wire::for_each_series_raw;
    let n = remote_write::decompress_into(body, 256 << 20, buf).expect("a snappy body");
    let mut app = storage.appender();
    for_each_series_raw(
        buf.get(..n).unwrap_or_default(),
        |labels: &mut Vec<(&[u8], &[u8])>, samples: &[(i64, f64)]| {
            app.append_raw(labels, samples).expect("stored");
            Ok(())
        },
    )
    .expect("a valid request");
    assert_eq!(app.len(), series);
    app.commit().expect("committed");
}
