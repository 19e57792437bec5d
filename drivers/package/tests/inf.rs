//! Every INF in `inf/`: an NDIS 6.x Ethernet miniport of class Net that is an NDK provider,
//! listing only its silicon's RDMA technology, binding exactly the PCI IDs of the silicon's
//! `Silicon::PCI_IDS` and of its datasheet, and installing its service.

use std::collections::BTreeSet;

use hal::mock::MockPlatform;
use hal::RdmaTransport;
use ndk_package::inf::{Hkr, Inf};
use ndk_package::{Driver, DRIVERS};
use ndk_provider::miniport::{PciId, Silicon};

const NET_CLASS_GUID: &str = "{4d36e972-e325-11ce-bfc1-08002be10318}";

/// What the driver crate says about its silicon.
struct Expected {
    technology: RdmaTransport,
    pci_ids: &'static [PciId],
}

fn silicon_of<S: Silicon<MockPlatform>>() -> Expected {
    Expected {
        technology: S::TECHNOLOGY,
        pci_ids: S::PCI_IDS,
    }
}

/// The silicon behind each driver of `ndk_package::DRIVERS`.
fn expected(driver: &Driver) -> Expected {
    match driver.krate {
        "ndkroce" => silicon_of::<hal_roce::RoceV2>(),
        "ndkiwarp" => silicon_of::<hal_iwarp::Iwarp>(),
        other => panic!("no silicon known for {other}: add it here"),
    }
}

/// `NDK_RDMA_TECHNOLOGY` values (ndkpi.md §9).
fn technology_value(t: RdmaTransport) -> &'static str {
    match t {
        RdmaTransport::Iwarp => "1",
        RdmaTransport::InfiniBand => "2",
        RdmaTransport::Roce => "3",
        RdmaTransport::RoceV2 => "4",
    }
}

fn read(driver: &Driver) -> Inf {
    let path = ndk_package::workspace_root().join(driver.inf);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Inf::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// (models section, install section, hardware IDs) of every model line.
fn models(inf: &Inf) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for line in inf.lines("Manufacturer").into_iter() {
        let (base, decorations) = line.fields.split_first().expect("models section name");
        let sections: Vec<String> = if decorations.is_empty() {
            vec![base.clone()]
        } else {
            decorations.iter().map(|d| format!("{base}.{d}")).collect()
        };
        for section in sections {
            assert!(
                inf.has_section(&section),
                "missing models section [{section}]"
            );
            for model in inf.lines(&section) {
                let (install, ids) = model.fields.split_first().expect("install section");
                out.push((install.clone(), ids.to_vec()));
            }
        }
    }
    assert!(!out.is_empty(), "no model lines");
    out
}

/// HKR lines of every AddReg section an install section names.
fn add_reg(inf: &Inf, install: &str) -> Vec<Hkr> {
    inf.values(install, "AddReg")
        .into_iter()
        .flatten()
        .flat_map(|section| {
            assert!(
                inf.has_section(section),
                "missing AddReg section [{section}]"
            );
            inf.hkr(section)
        })
        .collect()
}

fn param<'a>(hkr: &'a [Hkr], keyword: &str, name: &str) -> Option<&'a str> {
    let key = format!("Ndi\\Params\\{keyword}");
    let mut found = hkr
        .iter()
        .filter(|h| h.subkey.eq_ignore_ascii_case(&key) && h.name.eq_ignore_ascii_case(name));
    let first = found.next()?;
    assert!(found.next().is_none(), "{keyword} {name} written twice");
    Some(first.value.as_str())
}

fn enum_values(hkr: &[Hkr], keyword: &str) -> BTreeSet<String> {
    let key = format!("Ndi\\Params\\{keyword}\\enum");
    hkr.iter()
        .filter(|h| h.subkey.eq_ignore_ascii_case(&key))
        .map(|h| h.name.clone())
        .collect()
}

/// PCI IDs in a datasheet's "## 2." table: (vendor, device, subsystem vendor, subsystem).
fn datasheet_ids(driver: &Driver) -> (u16, u16, u16, u16) {
    let path = ndk_package::workspace_root().join(driver.datasheet);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let section = text
        .split("\n## ")
        .find(|s| s.starts_with("2. PCI"))
        .unwrap_or_else(|| panic!("{}: no §2 PCI configuration", path.display()));
    let row = |item: &str| -> u16 {
        let line = section
            .lines()
            .find(|l| l.starts_with(&format!("| {item} |")))
            .unwrap_or_else(|| panic!("{}: no {item} row", path.display()));
        let hex = line
            .split('`')
            .nth(1)
            .and_then(|v| v.strip_prefix("0x"))
            .unwrap_or_else(|| panic!("no hex value in {line:?}"));
        u16::from_str_radix(&hex.replace('_', ""), 16).expect("16-bit hex")
    };
    (
        row("Vendor ID"),
        row("Device ID"),
        row("Subsystem vendor ID"),
        row("Subsystem ID"),
    )
}

/// Parses `PCI\VEN_vvvv&DEV_dddd[&SUBSYS_ssssvvvv][&REV_rr]`.
fn parse_hardware_id(id: &str) -> (u16, u16, Option<(u16, u16)>) {
    let rest = id
        .strip_prefix("PCI\\")
        .unwrap_or_else(|| panic!("{id}: not a PCI hardware ID"));
    let mut ven = None;
    let mut dev = None;
    let mut subsys = None;
    for part in rest.split('&') {
        let hex = |s: &str| u32::from_str_radix(s, 16).unwrap_or_else(|_| panic!("{id}: bad hex"));
        if let Some(v) = part.strip_prefix("VEN_") {
            ven = Some(hex(v) as u16);
        } else if let Some(v) = part.strip_prefix("DEV_") {
            dev = Some(hex(v) as u16);
        } else if let Some(v) = part.strip_prefix("SUBSYS_") {
            let s = hex(v);
            subsys = Some(((s & 0xffff) as u16, (s >> 16) as u16));
        } else if part.strip_prefix("REV_").is_none() {
            panic!("{id}: unknown part {part}");
        }
    }
    (
        ven.unwrap_or_else(|| panic!("{id}: no VEN_")),
        dev.unwrap_or_else(|| panic!("{id}: no DEV_")),
        subsys,
    )
}

fn each(check: impl Fn(&Driver, &Inf)) {
    for driver in DRIVERS {
        check(driver, &read(driver));
    }
}

#[test]
fn every_inf_belongs_to_a_driver() {
    let dir = ndk_package::workspace_root().join("inf");
    let infs: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("inf/")
        .map(|e| format!("inf/{}", e.expect("entry").file_name().to_string_lossy()))
        .filter(|n| n.ends_with(".inf"))
        .collect();
    let known: BTreeSet<String> = DRIVERS.iter().map(|d| d.inf.to_string()).collect();
    assert_eq!(infs, known);
}

#[test]
fn version_is_a_net_class_driver() {
    each(|d, inf| {
        assert_eq!(
            inf.value("Version", "Signature"),
            Some("$WINDOWS NT$"),
            "{}",
            d.name
        );
        assert_eq!(inf.value("Version", "Class"), Some("Net"), "{}", d.name);
        let guid = inf.value("Version", "ClassGuid").expect("ClassGuid");
        assert!(
            guid.eq_ignore_ascii_case(NET_CLASS_GUID),
            "{}: {guid}",
            d.name
        );
        let catalog = format!("{}.cat", d.krate);
        assert_eq!(inf.value("Version", "CatalogFile"), Some(catalog.as_str()));
        assert!(inf
            .value("Version", "Provider")
            .is_some_and(|p| !p.is_empty()));
        assert!(inf.value("Version", "DriverVer").is_some());
    });
}

#[test]
fn install_declares_an_ethernet_miniport() {
    each(|d, inf| {
        for (install, _) in models(inf) {
            assert!(inf.has_section(&install), "{}: no [{install}]", d.name);
            for (key, value) in [
                ("*IfType", "6"),
                ("*MediaType", "0"),
                ("*PhysicalMediaType", "14"),
            ] {
                assert_eq!(
                    inf.value(&install, key),
                    Some(value),
                    "{}: {install} {key}",
                    d.name
                );
            }
            let characteristics = inf
                .value(&install, "Characteristics")
                .expect("Characteristics");
            let bits = u32::from_str_radix(characteristics.trim_start_matches("0x"), 16)
                .expect("hex Characteristics");
            assert_ne!(bits & 0x4, 0, "{}: NCF_PHYSICAL not set", d.name);
            assert_eq!(
                inf.value(&install, "BusType"),
                Some("5"),
                "{}: PCIBus",
                d.name
            );

            let hkr = add_reg(inf, &install);
            let interfaces = |name: &str| {
                hkr.iter()
                    .find(|h| h.subkey == "Ndi\\Interfaces" && h.name == name)
                    .map(|h| h.value.as_str())
            };
            assert_eq!(interfaces("UpperRange"), Some("ndis5"), "{}", d.name);
            assert_eq!(interfaces("LowerRange"), Some("ethernet"), "{}", d.name);
            let service = hkr
                .iter()
                .find(|h| h.subkey == "Ndi" && h.name == "Service");
            assert_eq!(
                service.map(|h| h.value.as_str()),
                Some(d.krate),
                "{}",
                d.name
            );
        }
    });
}

#[test]
fn network_direct_is_an_enabled_by_default_switch() {
    each(|d, inf| {
        for (install, _) in models(inf) {
            let hkr = add_reg(inf, &install);
            assert_eq!(
                param(&hkr, "*NetworkDirect", "Type"),
                Some("enum"),
                "{}",
                d.name
            );
            assert_eq!(
                param(&hkr, "*NetworkDirect", "Default"),
                Some("1"),
                "{}",
                d.name
            );
            let values: BTreeSet<String> = ["0", "1"].map(String::from).into();
            assert_eq!(enum_values(&hkr, "*NetworkDirect"), values, "{}", d.name);
        }
    });
}

#[test]
fn network_direct_technology_lists_only_the_silicons() {
    each(|d, inf| {
        let technology = technology_value(expected(d).technology);
        for (install, _) in models(inf) {
            let hkr = add_reg(inf, &install);
            let keyword = "*NetworkDirectTechnology";
            assert_eq!(param(&hkr, keyword, "Type"), Some("enum"), "{}", d.name);
            assert_eq!(
                param(&hkr, keyword, "Default"),
                Some(technology),
                "{}",
                d.name
            );
            let only: BTreeSet<String> = [technology.to_string()].into();
            assert_eq!(enum_values(&hkr, keyword), only, "{}", d.name);
        }
    });
}

#[test]
fn roce_frame_size_is_offered_for_roce_only() {
    each(|d, inf| {
        let roce = matches!(
            expected(d).technology,
            RdmaTransport::Roce | RdmaTransport::RoceV2
        );
        for (install, _) in models(inf) {
            let hkr = add_reg(inf, &install);
            let keyword = "*NetworkDirectRoCEFrameSize";
            if !roce {
                assert!(enum_values(&hkr, keyword).is_empty(), "{}", d.name);
                assert_eq!(param(&hkr, keyword, "Default"), None, "{}", d.name);
                continue;
            }
            assert_eq!(param(&hkr, keyword, "Type"), Some("enum"), "{}", d.name);
            assert_eq!(param(&hkr, keyword, "Default"), Some("1024"), "{}", d.name);
            let sizes: BTreeSet<String> = ["256", "512", "1024", "2048", "4096"]
                .map(String::from)
                .into();
            assert_eq!(enum_values(&hkr, keyword), sizes, "{}", d.name);
        }
    });
}

#[test]
fn hardware_ids_are_the_silicons_pci_ids() {
    each(|d, inf| {
        let (vendor, device, sub_vendor, subsystem) = datasheet_ids(d);
        let silicon = expected(d);
        assert_eq!(
            silicon.pci_ids,
            [PciId { vendor, device }],
            "{}: Silicon::PCI_IDS differ from the datasheet",
            d.name
        );
        let mut bound = BTreeSet::new();
        for (_, ids) in models(inf) {
            assert!(!ids.is_empty(), "{}: model without hardware ID", d.name);
            for id in ids {
                let (ven, dev, subsys) = parse_hardware_id(&id);
                assert!(
                    silicon.pci_ids.contains(&PciId {
                        vendor: ven,
                        device: dev
                    }),
                    "{}: {id} is not one of the silicon's PCI IDs",
                    d.name
                );
                if let Some(s) = subsys {
                    assert_eq!(s, (sub_vendor, subsystem), "{}: {id}", d.name);
                }
                bound.insert((ven, dev));
            }
        }
        let all: BTreeSet<_> = silicon
            .pci_ids
            .iter()
            .map(|p| (p.vendor, p.device))
            .collect();
        assert_eq!(bound, all, "{}: PCI IDs not bound by the INF", d.name);
    });
}

#[test]
fn service_installs_the_kernel_driver() {
    each(|d, inf| {
        for (install, _) in models(inf) {
            let services = format!("{install}.Services");
            let add = inf.values(&services, "AddService");
            let [fields] = add.as_slice() else {
                panic!("{}: [{services}] needs one AddService", d.name);
            };
            assert_eq!(
                fields.first().map(String::as_str),
                Some(d.krate),
                "{}",
                d.name
            );
            let flags = fields.get(1).expect("AddService flags");
            let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16).expect("flags");
            assert_ne!(flags & 0x2, 0, "{}: SPSVCINST_ASSOCSERVICE not set", d.name);
            let service = fields.get(2).expect("service install section");
            assert_eq!(inf.value(service, "ServiceType"), Some("1"), "{}", d.name);
            assert_eq!(inf.value(service, "StartType"), Some("3"), "{}", d.name);
            assert_eq!(inf.value(service, "ErrorControl"), Some("1"), "{}", d.name);
            assert_eq!(
                inf.value(service, "LoadOrderGroup"),
                Some("NDIS"),
                "{}",
                d.name
            );
            let binary = format!("%13%\\{}.sys", d.krate);
            assert_eq!(
                inf.value(service, "ServiceBinary"),
                Some(binary.as_str()),
                "{}",
                d.name
            );

            let sys = format!("{}.sys", d.krate);
            let copied = inf
                .values(&install, "CopyFiles")
                .into_iter()
                .flatten()
                .any(|section| {
                    inf.lines(section)
                        .iter()
                        .any(|l| l.fields.first() == Some(&sys))
                });
            assert!(copied, "{}: {sys} not copied", d.name);
            assert!(inf.value("SourceDisksFiles", &sys).is_some(), "{}", d.name);
            assert_eq!(inf.value("DestinationDirs", "DefaultDestDir"), Some("13"));
        }
    });
}
