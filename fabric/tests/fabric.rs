//! Forwarding, time, impairments, link state and counters.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use fabric::{Fabric, Frame, Impairments, Port, Stats, BROADCAST};

fn drain(port: &Port, now: u64) -> Vec<Frame> {
    std::iter::from_fn(|| port.recv(now)).collect()
}

#[test]
fn unicast_is_delivered_by_destination_mac() {
    let fabric = Fabric::default();
    let a = fabric.attach(MAC_A);
    let b = fabric.attach(MAC_B);
    let c = fabric.attach(MAC_C);

    a.send(&numbered(MAC_B, MAC_A, 1), 10);
    c.send(&numbered(MAC_A, MAC_C, 2), 10);

    let at_b = drain(&b, 10);
    assert_eq!(at_b.len(), 1);
    assert_eq!(number_of(at_b[0].payload()), 1);
    assert_eq!(at_b[0].src(), MAC_A);
    assert_eq!(at_b[0].dst(), MAC_B);
    assert_eq!(at_b[0].ethertype(), ETHERTYPE_TEST);
    assert_eq!(at_b[0].from_port(), a.id());
    assert_eq!((at_b[0].sent_ns(), at_b[0].due_ns()), (10, 10));

    let at_a = drain(&a, 10);
    assert_eq!(at_a.len(), 1);
    assert_eq!(number_of(at_a[0].payload()), 2);
    assert!(c.recv(10).is_none());

    // Nobody has this MAC: dropped, not flooded.
    a.send(&numbered(MAC_UNKNOWN, MAC_A, 3), 20);
    assert_eq!(fabric.pending(), 0);
    assert!(b.recv(20).is_none() && c.recv(20).is_none());

    let stats = fabric.stats();
    assert_eq!(stats.sent, 3);
    assert_eq!(stats.delivered, 2);
    assert_eq!(stats.unroutable, 1);
    assert_eq!(stats.dropped, 1);
    assert!(stats.is_balanced(), "{stats}");
}

#[test]
fn broadcast_and_multicast_reach_every_other_port() {
    let fabric = Fabric::default();
    let ports: Vec<Port> = (0..4u8)
        .map(|i| fabric.attach([0x02, 0, 0, 0, 1, i]))
        .collect();

    ports[1].send(&numbered(BROADCAST, ports[1].mac(), 7), 5);
    assert_eq!(fabric.pending(), 3);
    for (i, port) in ports.iter().enumerate() {
        let got = drain(port, 5);
        if i == 1 {
            assert!(got.is_empty(), "no hairpin to the sender");
        } else {
            assert_eq!(got.len(), 1);
            assert!(got[0].is_broadcast());
            assert_eq!(number_of(got[0].payload()), 7);
        }
    }

    let multicast = [0x01, 0x00, 0x5e, 0x00, 0x00, 0x01];
    ports[0].send(&numbered(multicast, ports[0].mac(), 8), 6);
    assert_eq!(fabric.pending(), 3);

    let stats = fabric.stats();
    assert_eq!(stats.sent, 2);
    assert_eq!(stats.fanout, 4);
    assert_eq!(stats.delivered, 3);
    assert_eq!(stats.in_flight, 3);
    assert!(stats.is_balanced(), "{stats}");

    // A lone port broadcasting reaches nobody.
    let lonely = Fabric::default();
    let only = lonely.attach(MAC_A);
    only.send(&numbered(BROADCAST, MAC_A, 1), 0);
    assert_eq!(lonely.stats().unroutable, 1);
}

#[test]
fn shared_mac_reaches_all_holders_but_the_sender() {
    let fabric = Fabric::default();
    let a1 = fabric.attach(MAC_A);
    let a2 = fabric.attach(MAC_A);
    let b = fabric.attach(MAC_B);
    b.send(&numbered(MAC_A, MAC_B, 1), 0);
    assert_eq!((a1.pending(), a2.pending()), (1, 1));
    a1.send(&numbered(MAC_A, MAC_A, 2), 0);
    assert_eq!((a1.pending(), a2.pending()), (1, 2));
    assert!(fabric.stats().is_balanced());
}

#[test]
fn perfect_wire_delivers_every_frame_once_in_order() {
    // A fixed delay and a jittered one: jitter alone never reorders a path.
    for delay_ns in [(0, 0), (1_000, 1_000), (0, 50_000)] {
        let fabric = Fabric::new(Impairments {
            delay_ns,
            seed: 9,
            ..Impairments::default()
        });
        let a = fabric.attach(MAC_A);
        let b = fabric.attach(MAC_B);

        let mut got = Vec::new();
        let mut now = 0;
        for n in 0..1_000u32 {
            a.send(&numbered(MAC_B, MAC_A, n), now);
            now += 100;
            got.extend(drain(&b, now).iter().map(|f| number_of(f.payload())));
        }
        while let Some(due) = fabric.next_due() {
            got.extend(drain(&b, due).iter().map(|f| number_of(f.payload())));
        }
        assert_eq!(got, (0..1_000).collect::<Vec<_>>(), "delay {delay_ns:?}");

        let stats = fabric.stats();
        assert_eq!(stats.sent, 1_000);
        assert_eq!(stats.delivered, 1_000);
        assert_eq!(
            (stats.dropped, stats.duplicated, stats.reordered),
            (0, 0, 0)
        );
        assert!(stats.is_balanced(), "{stats}");
    }
}

#[test]
fn delivery_respects_due_times() {
    let fabric = Fabric::new(Impairments {
        delay_ns: (500, 500),
        ..Impairments::default()
    });
    let a = fabric.attach(MAC_A);
    let b = fabric.attach(MAC_B);
    assert_eq!(fabric.next_due(), None);

    a.send(&numbered(MAC_B, MAC_A, 1), 100);
    a.send(&numbered(MAC_B, MAC_A, 2), 300);
    assert_eq!(fabric.next_due(), Some(600));
    assert_eq!(b.next_due(), Some(600));
    assert_eq!(a.next_due(), None);
    assert_eq!(fabric.pending(), 2);

    assert!(b.recv(599).is_none());
    let first = b.recv(600).unwrap();
    assert_eq!((number_of(first.payload()), first.due_ns()), (1, 600));
    assert_eq!(fabric.next_due(), Some(800));
    assert!(b.recv(799).is_none());
    // Receiving late still hands the frame out, with its due time.
    let second = b.recv(10_000).unwrap();
    assert_eq!((second.sent_ns(), second.due_ns()), (300, 800));
    assert_eq!(fabric.next_due(), None);
    assert_eq!(fabric.pending(), 0);

    // Jittered delays stay within bounds.
    let fabric = Fabric::new(Impairments {
        delay_ns: (2_000, 1_000), // swapped bounds are put in order
        seed: 3,
        ..Impairments::default()
    });
    assert_eq!(fabric.impairments().delay_ns, (1_000, 2_000));
    let a = fabric.attach(MAC_A);
    let b = fabric.attach(MAC_B);
    for n in 0..200 {
        a.send(&numbered(MAC_B, MAC_A, n), u64::from(n) * 10_000);
    }
    let mut count = 0;
    while let Some(due) = fabric.next_due() {
        let f = b.recv(due).unwrap();
        let delay = f.due_ns() - f.sent_ns();
        assert!((1_000..=2_000).contains(&delay), "delay {delay}");
        count += 1;
    }
    assert_eq!(count, 200);
}

/// One lossy run: `a` streams numbered frames to `b` while a loop advances virtual time.
/// Returns what `b` received (number, due time) and the final counters.
fn lossy_run(seed: u64) -> (Vec<(u32, u64)>, Stats) {
    let fabric = Fabric::new(Impairments {
        loss: 0.05,
        duplicate: 0.05,
        reorder: 0.05,
        delay_ns: (1_000, 20_000),
        seed,
    });
    let a = fabric.attach(MAC_A);
    let b = fabric.attach(MAC_B);
    let mut got = Vec::new();
    let mut now = 0;
    for n in 0..5_000u32 {
        a.send(&numbered(MAC_B, MAC_A, n), now);
        now += 2_000;
        got.extend(
            drain(&b, now)
                .iter()
                .map(|f| (number_of(f.payload()), f.due_ns())),
        );
    }
    while let Some(due) = fabric.next_due() {
        got.extend(
            drain(&b, due)
                .iter()
                .map(|f| (number_of(f.payload()), f.due_ns())),
        );
    }
    (got, fabric.stats())
}

#[test]
fn seeded_impairments_are_deterministic_and_counters_add_up() {
    let (got, stats) = lossy_run(42);
    let (again, stats_again) = lossy_run(42);
    assert_eq!(got, again, "same seed, same sequence");
    assert_eq!(stats, stats_again);
    let (other, _) = lossy_run(43);
    assert_ne!(got, other, "another seed, another sequence");

    assert!(stats.is_balanced(), "{stats}");
    assert_eq!(stats.sent, 5_000);
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.delivered, got.len() as u64);
    assert_eq!(stats.dropped, stats.lost);

    // Observed losses and duplicates match the counters.
    let mut copies: BTreeMap<u32, u64> = BTreeMap::new();
    for &(n, _) in &got {
        *copies.entry(n).or_default() += 1;
    }
    let missing = 5_000 - copies.len() as u64;
    let extra: u64 = copies.values().map(|c| c - 1).sum();
    assert_eq!(missing, stats.lost);
    assert_eq!(extra, stats.duplicated);
    assert!(copies.values().all(|&c| c <= 2));

    // Roughly 5 % each (binomial, n = 5000: 250 ± 50 is over 3 sigma).
    for (what, count) in [
        ("lost", stats.lost),
        ("duplicated", stats.duplicated),
        ("reordered", stats.reordered),
    ] {
        assert!((170..=330).contains(&count), "{what}: {count}");
    }

    // Due times never go backwards, and reordering is visible: some frame arrives after a
    // higher-numbered one. Without swaps the first copies arrive in order.
    assert!(got.windows(2).all(|w| w[0].1 <= w[1].1));
    let mut seen = BTreeSet::new();
    let mut late = 0u64;
    for &(n, _) in &got {
        if seen.insert(n) && seen.range(n + 1..).next().is_some() {
            late += 1;
        }
    }
    assert!(late > 0 && late <= stats.reordered, "late {late}");
}

#[test]
fn reordering_is_an_explicit_swap_with_a_frame_in_flight() {
    let fabric = Fabric::new(Impairments {
        reorder: 1.0,
        ..Impairments::default()
    });
    let a = fabric.attach(MAC_A);
    let b = fabric.attach(MAC_B);

    // Nothing in flight: nothing to overtake.
    a.send(&numbered(MAC_B, MAC_A, 0), 0);
    assert_eq!(number_of(b.recv(0).unwrap().payload()), 0);
    assert_eq!(fabric.stats().reordered, 0);

    // A burst: each new frame trades places with the frame of the same sender just ahead
    // of it in the queue: [1] -> [2, 1] -> [2, 3, 1].
    for n in 1..=3 {
        a.send(&numbered(MAC_B, MAC_A, n), 10);
    }
    let order: Vec<u32> = drain(&b, 10)
        .iter()
        .map(|f| number_of(f.payload()))
        .collect();
    assert_eq!(order, [2, 3, 1]);
    assert_eq!(fabric.stats().reordered, 2);

    // Another sender's frames are never overtaken.
    let c = fabric.attach(MAC_C);
    c.send(&numbered(MAC_B, MAC_C, 100), 20);
    a.send(&numbered(MAC_B, MAC_A, 4), 20);
    let order: Vec<u32> = drain(&b, 20)
        .iter()
        .map(|f| number_of(f.payload()))
        .collect();
    assert_eq!(order, [100, 4]);
    assert_eq!(fabric.stats().reordered, 2);
    assert!(fabric.stats().is_balanced());
}

#[test]
fn duplicates_follow_the_original() {
    let fabric = Fabric::new(Impairments {
        duplicate: 1.0,
        delay_ns: (50, 50),
        ..Impairments::default()
    });
    let a = fabric.attach(MAC_A);
    let b = fabric.attach(MAC_B);
    a.send(&numbered(MAC_B, MAC_A, 1), 0);
    a.send(&numbered(MAC_B, MAC_A, 2), 0);
    let got: Vec<(u32, u64)> = drain(&b, 50)
        .iter()
        .map(|f| (number_of(f.payload()), f.due_ns()))
        .collect();
    assert_eq!(got, [(1, 50), (1, 50), (2, 50), (2, 50)]);
    let stats = fabric.stats();
    assert_eq!((stats.duplicated, stats.delivered), (2, 4));
    assert!(stats.is_balanced());
}

#[test]
fn total_loss_drops_everything() {
    let fabric = Fabric::new(Impairments {
        loss: 1.0,
        ..Impairments::default()
    });
    let a = fabric.attach(MAC_A);
    let _b = fabric.attach(MAC_B);
    for n in 0..10 {
        a.send(&numbered(MAC_B, MAC_A, n), 0);
    }
    let stats = fabric.stats();
    assert_eq!((stats.lost, stats.dropped, stats.in_flight), (10, 10, 0));
    assert!(stats.is_balanced());
}

#[test]
fn link_down_drops_everything_to_and_from_the_port() {
    let fabric = Fabric::new(Impairments {
        delay_ns: (1_000, 1_000),
        ..Impairments::default()
    });
    let a = fabric.attach(MAC_A);
    let b = fabric.attach(MAC_B);
    let c = fabric.attach(MAC_C);

    // In flight both ways, plus traffic between others.
    a.send(&numbered(MAC_B, MAC_A, 1), 0);
    b.send(&numbered(MAC_A, MAC_B, 2), 0);
    c.send(&numbered(MAC_A, MAC_C, 3), 0);
    assert_eq!(fabric.pending(), 3);

    b.set_link(false);
    assert!(!b.link_up());
    assert_eq!(fabric.pending(), 1, "only c -> a survives");

    // While down: to and from b is dropped, broadcast skips b.
    a.send(&numbered(MAC_B, MAC_A, 4), 10);
    b.send(&numbered(MAC_A, MAC_B, 5), 10);
    a.send(&numbered(BROADCAST, MAC_A, 6), 10);
    assert_eq!(b.pending(), 0);
    assert!(b.recv(u64::MAX).is_none());

    let got: Vec<u32> = drain(&a, 2_000)
        .iter()
        .map(|f| number_of(f.payload()))
        .collect();
    assert_eq!(got, [3]);
    assert_eq!(drain(&c, 2_000).len(), 1, "the broadcast reached c");

    // Up again: forwarding resumes for new frames.
    b.set_link(true);
    a.send(&numbered(MAC_B, MAC_A, 7), 3_000);
    assert_eq!(number_of(b.recv(4_000).unwrap().payload()), 7);

    let stats = fabric.stats();
    assert_eq!(stats.link_down, 2 + 3);
    assert!(stats.is_balanced(), "{stats}");
}

#[test]
fn detach_removes_the_port_for_good() {
    let fabric = Fabric::new(Impairments {
        delay_ns: (100, 100),
        ..Impairments::default()
    });
    let a = fabric.attach(MAC_A);
    let b = fabric.attach(MAC_B);
    let b_clone = b.clone();
    assert_eq!(b, b_clone);
    assert_ne!(a, b);

    a.send(&numbered(MAC_B, MAC_A, 1), 0);
    b.send(&numbered(MAC_A, MAC_B, 2), 0);
    assert!(fabric.detach(&b));
    assert!(!fabric.detach(&b_clone), "already gone");
    assert!(!b_clone.is_attached() && !b_clone.link_up());
    assert_eq!(fabric.pending(), 0);

    // The handle still works, as a dead port.
    b_clone.send(&numbered(MAC_A, MAC_B, 3), 200);
    b_clone.set_link(true);
    assert!(!b_clone.link_up());
    assert!(b_clone.recv(u64::MAX).is_none());
    assert_eq!(b_clone.next_due(), None);
    a.send(&numbered(MAC_B, MAC_A, 4), 200);
    assert!(a.recv(u64::MAX).is_none());

    let stats = fabric.stats();
    assert_eq!(stats.link_down, 3);
    assert_eq!(stats.unroutable, 1);
    assert!(stats.is_balanced(), "{stats}");

    // A port of another fabric is not ours to detach.
    let other = Fabric::default();
    let stranger = other.attach(MAC_A);
    assert!(!fabric.detach(&stranger));
    assert!(stranger.is_attached());
}

#[test]
fn malformed_frames_are_dropped() {
    let fabric = Fabric::default();
    let a = fabric.attach(MAC_A);
    let _b = fabric.attach(MAC_B);
    a.send(&[], 0);
    a.send(&MAC_B, 0);
    let stats = fabric.stats();
    assert_eq!((stats.sent, stats.malformed, stats.dropped), (2, 2, 2));
    assert!(stats.is_balanced());
}

#[test]
fn impairments_are_sanitized_and_can_be_replaced() {
    let fabric = Fabric::new(Impairments {
        loss: f64::NAN,
        duplicate: 7.0,
        reorder: -1.0,
        delay_ns: (5, 5),
        seed: 1,
    });
    let imp = fabric.impairments();
    assert_eq!((imp.loss, imp.duplicate, imp.reorder), (0.0, 1.0, 0.0));
    assert!(!imp.is_lossless_in_order());
    assert!(Impairments::PERFECT.is_lossless_in_order());
    assert_eq!(Impairments::PERFECT, Impairments::default());

    let a = fabric.attach(MAC_A);
    let b = fabric.attach(MAC_B);
    a.send(&numbered(MAC_B, MAC_A, 1), 0);
    assert_eq!(b.pending(), 2);
    fabric.set_impairments(Impairments::PERFECT);
    a.send(&numbered(MAC_B, MAC_A, 2), 0);
    let got: Vec<u32> = drain(&b, 5)
        .iter()
        .map(|f| number_of(f.payload()))
        .collect();
    // The new frame is due at 0 but a path never runs backwards: it follows the others.
    assert_eq!(got, [1, 1, 2]);
}

#[test]
fn simulation_loop_jumps_to_next_due() {
    // Two echo devices: b answers every frame from a. The loop only ever jumps time.
    let fabric = Fabric::new(Impairments {
        delay_ns: (700, 1_300),
        loss: 0.1,
        seed: 5,
        ..Impairments::default()
    });
    let a = fabric.attach(MAC_A);
    let b = fabric.attach(MAC_B);
    for n in 0..20 {
        a.send(&numbered(MAC_B, MAC_A, n), 0);
    }
    let mut echoed = 0;
    let mut returned = 0;
    let mut now = 0;
    while let Some(due) = fabric.next_due() {
        assert!(due >= now, "time never runs backwards here");
        now = due;
        while let Some(f) = b.recv(now) {
            b.send(&numbered(MAC_A, MAC_B, number_of(f.payload())), now);
            echoed += 1;
        }
        returned += drain(&a, now).len();
    }
    let stats = fabric.stats();
    assert_eq!(stats.delivered, (echoed + returned) as u64);
    assert_eq!(stats.sent, 20 + echoed as u64);
    assert!(stats.is_balanced());
    assert!(now >= 1_400, "two hops of at least 700 ns");
}

#[test]
fn handles_are_send_sync_and_debuggable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Fabric>();
    assert_send_sync::<Port>();
    assert_send_sync::<Frame>();

    let fabric = Fabric::new(Impairments {
        delay_ns: (10, 10),
        ..Impairments::default()
    });
    let a = fabric.attach(MAC_A);
    let b = fabric.attach(MAC_B);
    a.send(&numbered(MAC_B, MAC_A, 1), 0);

    let text = format!("{fabric:?}");
    assert!(text.contains("02:00:00:00:00:0a"), "{text}");
    assert!(text.contains("in_flight: 1"), "{text}");
    assert!(format!("{a:?}").contains("link_up: true"));
    let frame = b.recv(10).unwrap();
    let text = format!("{frame:?}");
    assert!(
        text.contains("0x88b5") && text.contains("due_ns: 10"),
        "{text}"
    );
    assert!(fabric.stats().to_string().contains("delivered 1"));

    // A fabric shared across threads.
    let handle = {
        let a = a.clone();
        std::thread::spawn(move || a.send(&numbered(MAC_B, MAC_A, 2), 20))
    };
    handle.join().unwrap();
    assert_eq!(number_of(b.recv(30).unwrap().payload()), 2);
    assert_eq!(a.fabric().stats().sent, 2);
}
