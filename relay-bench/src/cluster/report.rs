//! What the cluster benchmark prints: its measurement's lines, the goals
//! met or not, and the README's markdown table.

use std::fmt;

use super::ClusterMeasurement;
use crate::{Measurement, mb, rate, write_warnings};

impl fmt::Display for ClusterMeasurement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |(p50, p99): (f64, f64)| format!("p50 {p50:>6.2} ms   p99 {p99:>6.2} ms");
        write!(f, "  {:<12} {:>7} deliveries/s   {}", "cluster", rate(self.deliveries_per_sec), ms(self.all))?;
        write_warnings(f, self.disconnects, (self.receipts, self.expected_receipts), self.lost, self.wrapped)?;
        writeln!(f)?;
        writeln!(
            f,
            "  {:<12} receivers on relay 1: {};  on the others: {}",
            "latency",
            ms(self.local),
            ms(self.cross)
        )?;
        let (l, s) = (&self.latency_broker, &self.saturation_broker);
        writeln!(
            f,
            "  {:<12} per broadcast: {:.2} in / {:.2} out while paced ({:.2} / {:.2} with the background), \
             {:.3} in / {:.3} out at saturation ({:.0} / {:.0} bytes); background {:.1} in / {:.1} out per s",
            "broker",
            l.in_msgs,
            l.out_msgs,
            l.raw_in,
            l.raw_out,
            s.in_msgs,
            s.out_msgs,
            s.in_bytes,
            s.out_bytes,
            self.background_in_per_sec,
            self.background_out_per_sec
        )?;
        if self.broker_dropped > 0 {
            writeln!(f, "  {:<12} the relays dropped {} broker messages", "", self.broker_dropped)?;
        }
        writeln!(
            f,
            "  {:<12} relays {} MB, broker {:.1} MB",
            "peak RSS",
            self.relay_rss.iter().map(|&b| format!("{:.1}", mb(b))).collect::<Vec<_>>().join(" / "),
            mb(self.broker_rss)
        )?;
        writeln!(
            f,
            "  {:<12} relays {:.3} µs/delivery, broker {:.1} µs/message, clients {:.3} µs/delivery; \
             cores busy: relays {}, broker {:.2}, clients {:.2}",
            "CPU",
            self.relay_cpu_us_per_delivery,
            self.broker_cpu_us_per_message,
            self.clients_cpu_us_per_delivery,
            self.relay_cores.iter().map(|c| format!("{c:.2}")).collect::<Vec<_>>().join(" / "),
            self.broker_cores,
            self.clients_cores
        )?;
        let k = &self.kill;
        write!(
            f,
            "  {:<12} {} announced, {} clients of surviving relays: {} lost, {} duplicates, {} disconnected; \
             {}/{} clients of the killed relay disconnected",
            "relay kill",
            k.sent,
            k.survivors,
            k.lost,
            k.extra,
            k.survivors_disconnected,
            k.killed_disconnected,
            k.killed_clients
        )
    }
}

/// Prints the goals.
pub(super) fn print_goals(one: &Measurement, cluster: &ClusterMeasurement, rate: f64) {
    let mark = |ok: bool| if ok { "met" } else { "NOT met" };
    let ratio = cluster.deliveries_per_sec / one.deliveries_per_sec;
    println!("goals:");
    println!(
        "  cross-relay p99 < 50 ms at {rate} announcements/s: {:.2} ms  {}",
        cluster.cross.1,
        mark(cluster.cross.1 < 50.0)
    );
    println!("  cluster throughput >= 0.7x one relay: {ratio:.2}x  {}", mark(ratio >= 0.7));
    let k = &cluster.kill;
    println!(
        "  0 lost broadcasts to surviving relays' clients during a relay kill: {} lost  {}",
        k.lost,
        mark(k.lost == 0 && k.sent > 0 && k.survivors_disconnected == 0)
    );
    let clean = one.disconnects == 0 && cluster.disconnects == 0 && one.lost == 0 && cluster.lost == 0;
    println!("  no disconnections or lost deliveries while measuring: {}", mark(clean));
}

/// Prints one relay against the cluster as a Markdown table.
pub(super) fn print_markdown(one: &Measurement, cluster: &ClusterMeasurement, n: usize, relays: usize) {
    let ms = |(p50, p99): (f64, f64)| format!("{p50:.1} / {p99:.1} ms");
    let s = &cluster.saturation_broker;
    println!("| {n} clients | one relay | {relays} relays + broker | cluster ÷ one |");
    println!("|---|--:|--:|--:|");
    println!(
        "| deliveries/s | {} | {} | {:.2}× |",
        rate(one.deliveries_per_sec),
        rate(cluster.deliveries_per_sec),
        cluster.deliveries_per_sec / one.deliveries_per_sec
    );
    println!("| p50 / p99 latency, all receivers | {} | {} | |", ms((one.p50_ms, one.p99_ms)), ms(cluster.all));
    println!("| … receivers on the announcer's relay | | {} | |", ms(cluster.local));
    println!("| … receivers on the other relays (cross-relay) | | {} | |", ms(cluster.cross));
    println!("| broker messages per broadcast, in / out | | {:.2} / {:.2} | |", s.in_msgs, s.out_msgs);
    println!(
        "| peak RSS | {:.0} MB | {} MB + broker {:.0} MB | |",
        mb(one.peak_rss),
        cluster.relay_rss.iter().map(|&b| format!("{:.0}", mb(b))).collect::<Vec<_>>().join(" / "),
        mb(cluster.broker_rss)
    );
    println!(
        "| relay CPU per delivery (all relays together) | {:.2} µs | {:.2} µs | {:.2}× |",
        one.cpu_us_per_delivery,
        cluster.relay_cpu_us_per_delivery,
        cluster.relay_cpu_us_per_delivery / one.cpu_us_per_delivery
    );
    println!(
        "| load generator CPU per delivery | {:.2} µs | {:.2} µs | {:.2}× |",
        one.clients_cpu_us_per_delivery,
        cluster.clients_cpu_us_per_delivery,
        cluster.clients_cpu_us_per_delivery / one.clients_cpu_us_per_delivery
    );
    println!("| broker CPU per message (in or out) | | {:.1} µs | |", cluster.broker_cpu_us_per_message);
    let k = &cluster.kill;
    println!(
        "| lost in a relay kill (announcements × surviving clients) | | {} of {} | |",
        k.lost,
        k.sent * k.survivors as u64
    );
}
