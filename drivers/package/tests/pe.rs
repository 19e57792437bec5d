//! The kernel image of every driver, as Windows' loader and HVCI see it: an AMD64 native
//! image entered at DriverEntry, importing only from ntoskrnl.exe, ndis.sys and hal.dll
//! (including every NDIS function the glue calls), exporting nothing else, with no
//! writable-and-executable section and a correct checksum.
//!
//! The images are linked on first use (`ndk_package::build`), so this runs on a fresh clone.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use object::pe::*;
use object::read::pe::{ImageNtHeaders, ImageOptionalHeader, PeFile64};
use object::LittleEndian as LE;
use object::{Object, ObjectSection};

use ndk_package::{Driver, DRIVERS};

/// The DLLs a driver may import from.
const KERNEL_DLLS: [&str; 3] = ["ntoskrnl.exe", "ndis.sys", "hal.dll"];

/// Functions of the `Ndis` trait that are WDK macros, not exports: what they import.
const MACROS: [(&str, &str, &str); 1] = [(
    "MmGetSystemAddressForMdlSafe",
    "ntoskrnl.exe",
    "MmMapLockedPagesSpecifyCache",
)];

/// The linked images, one per driver, built once per test run.
fn images() -> &'static [(Driver, Vec<u8>)] {
    static IMAGES: OnceLock<Vec<(Driver, Vec<u8>)>> = OnceLock::new();
    IMAGES.get_or_init(|| {
        DRIVERS
            .iter()
            .map(|d| {
                let package =
                    ndk_package::build(d).unwrap_or_else(|e| panic!("linking {}: {e}", d.name));
                let bytes = std::fs::read(&package.sys)
                    .unwrap_or_else(|e| panic!("{}: {e}", package.sys.display()));
                (*d, bytes)
            })
            .collect()
    })
}

fn each(check: impl Fn(&Driver, &[u8], &PeFile64<'_>)) {
    for (driver, bytes) in images() {
        let pe = PeFile64::parse(bytes.as_slice())
            .unwrap_or_else(|e| panic!("{}: not a PE32+ image: {e}", driver.name));
        check(driver, bytes, &pe);
    }
}

/// (dll, function) of every import, DLL names lower-cased.
fn imports(pe: &PeFile64<'_>) -> BTreeSet<(String, String)> {
    pe.imports()
        .expect("import table")
        .into_iter()
        .map(|i| {
            (
                String::from_utf8_lossy(i.library()).to_ascii_lowercase(),
                String::from_utf8_lossy(i.name()).into_owned(),
            )
        })
        .collect()
}

/// The functions of the glue's `Ndis` trait, read from its source so the list cannot drift.
fn ndis_trait_functions() -> Vec<String> {
    let path = ndk_package::workspace_root().join("ndk-provider/src/miniport/ndis.rs");
    let src = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let names: Vec<String> = src
        .split("unsafe fn ")
        .skip(1)
        .filter_map(|rest| rest.split('(').next())
        .map(|name| name.trim().to_string())
        .filter(|name| name != "platform")
        .collect();
    assert!(
        names.len() > 10 && names.iter().any(|n| n == "NdisMRegisterMiniportDriver"),
        "could not read the Ndis trait: {names:?}"
    );
    names
}

/// The import a trait function becomes: `Ndis*` from ndis.sys, macros per [`MACROS`].
fn expected_import(function: &str) -> (String, String) {
    if let Some((_, dll, import)) = MACROS.iter().find(|(f, _, _)| *f == function) {
        return (dll.to_string(), import.to_string());
    }
    assert!(
        function.starts_with("Ndis"),
        "{function} is neither an ndis.sys export nor a known macro: add it to MACROS"
    );
    ("ndis.sys".to_string(), function.to_string())
}

/// The PE checksum (imagehlp's CheckSumMappedFile): 16-bit one's-complement-style sum of the
/// file with the CheckSum field as zero, plus the file length.
fn pe_checksum(bytes: &[u8], checksum_offset: usize) -> u32 {
    let mut sum: u64 = 0;
    for (i, chunk) in bytes.chunks(2).enumerate() {
        let at = i * 2;
        if at >= checksum_offset && at < checksum_offset + 4 {
            continue;
        }
        let word = u64::from(chunk[0]) | chunk.get(1).map_or(0, |b| u64::from(*b) << 8);
        sum += word;
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum = (sum & 0xffff) + (sum >> 16);
    (sum as u32).wrapping_add(bytes.len() as u32)
}

/// File offset of OptionalHeader.CheckSum.
fn checksum_offset(pe: &PeFile64<'_>) -> usize {
    let e_lfanew = pe.dos_header().nt_headers_offset() as usize;
    // Signature (4) + IMAGE_FILE_HEADER (20) + the optional header's fields before CheckSum.
    e_lfanew + 4 + 20 + 64
}

#[test]
fn machine_is_amd64() {
    each(|d, _, pe| {
        let machine = pe.nt_headers().file_header().machine.get(LE);
        assert_eq!(machine, IMAGE_FILE_MACHINE_AMD64, "{}", d.name);
    });
}

#[test]
fn subsystem_is_native() {
    each(|d, _, pe| {
        let subsystem = pe.nt_headers().optional_header().subsystem();
        assert_eq!(subsystem, IMAGE_SUBSYSTEM_NATIVE, "{}", d.name);
    });
}

#[test]
fn entry_point_is_driver_entry() {
    each(|d, _, pe| {
        let entry = pe.nt_headers().optional_header().address_of_entry_point();
        let driver_entry = pe
            .export_table()
            .expect("export table")
            .expect("an export table")
            .exports()
            .expect("exports")
            .into_iter()
            .find(|e| e.name == Some(b"DriverEntry".as_slice()))
            .unwrap_or_else(|| panic!("{}: DriverEntry is not exported", d.name));
        match driver_entry.target {
            object::read::pe::ExportTarget::Address(rva) => {
                assert_eq!(entry, rva, "{}: entry point is not DriverEntry", d.name)
            }
            other => panic!("{}: DriverEntry is a forwarder: {other:?}", d.name),
        }
    });
}

#[test]
fn exports_only_driver_entry() {
    each(|d, _, pe| {
        let names: Vec<String> = pe
            .exports()
            .expect("exports")
            .iter()
            .map(|e| String::from_utf8_lossy(e.name()).into_owned())
            .collect();
        assert_eq!(names, ["DriverEntry"], "{}", d.name);
    });
}

#[test]
fn imports_only_from_ntoskrnl_ndis_and_hal() {
    each(|d, _, pe| {
        let imports = imports(pe);
        assert!(!imports.is_empty(), "{}: no imports", d.name);
        let foreign: Vec<_> = imports
            .iter()
            .filter(|(dll, _)| !KERNEL_DLLS.contains(&dll.as_str()))
            .collect();
        assert!(
            foreign.is_empty(),
            "{}: imports from other DLLs: {foreign:?}",
            d.name
        );
    });
}

#[test]
fn imports_include_every_ndis_function_the_glue_calls() {
    let expected: BTreeSet<(String, String)> = ndis_trait_functions()
        .iter()
        .map(|f| expected_import(f))
        .collect();
    each(|d, _, pe| {
        let imports = imports(pe);
        let missing: Vec<_> = expected.difference(&imports).collect();
        assert!(
            missing.is_empty(),
            "{}: missing imports {missing:?}",
            d.name
        );
    });
}

#[test]
fn no_section_is_writable_and_executable() {
    each(|d, _, pe| {
        for section in pe.section_table().iter() {
            let flags = section.characteristics.get(LE);
            let wx = IMAGE_SCN_MEM_WRITE | IMAGE_SCN_MEM_EXECUTE;
            assert_ne!(
                flags & wx,
                wx,
                "{}: section {:?} is writable and executable",
                d.name,
                String::from_utf8_lossy(section.raw_name())
            );
        }
        assert!(pe.sections().count() > 0, "{}: no sections", d.name);
        assert!(
            pe.sections().any(|s| s.name() == Ok(".text")),
            "{}: no .text",
            d.name
        );
    });
}

#[test]
fn checksum_matches_the_image() {
    each(|d, bytes, pe| {
        let stored = pe.nt_headers().optional_header().check_sum();
        assert_ne!(stored, 0, "{}: checksum not set", d.name);
        assert_eq!(
            stored,
            pe_checksum(bytes, checksum_offset(pe)),
            "{}: stored checksum differs from the image's",
            d.name
        );
    });
}

#[test]
fn checksum_detects_a_changed_byte() {
    each(|d, bytes, pe| {
        let offset = checksum_offset(pe);
        let mut changed = bytes.to_vec();
        let last = changed.len() - 1;
        changed[last] ^= 0x5a;
        assert_ne!(
            pe_checksum(&changed, offset),
            pe_checksum(bytes, offset),
            "{}",
            d.name
        );
    });
}

#[test]
fn loader_security_flags_are_set() {
    each(|d, _, pe| {
        let flags = pe.nt_headers().optional_header().dll_characteristics();
        for (flag, name) in [
            (IMAGE_DLLCHARACTERISTICS_NX_COMPAT, "NX_COMPAT"),
            (IMAGE_DLLCHARACTERISTICS_DYNAMIC_BASE, "DYNAMIC_BASE"),
            (IMAGE_DLLCHARACTERISTICS_FORCE_INTEGRITY, "FORCE_INTEGRITY"),
        ] {
            assert_ne!(flags & flag, 0, "{}: {name} not set", d.name);
        }
    });
}

#[test]
fn image_is_relocatable() {
    // The kernel loads drivers at addresses of its choosing, never at the user-mode
    // ImageBase lld writes, so base relocations must be present.
    each(|d, _, pe| {
        let characteristics = pe.nt_headers().file_header().characteristics.get(LE);
        assert_eq!(
            characteristics & IMAGE_FILE_RELOCS_STRIPPED,
            0,
            "{}: relocations stripped",
            d.name
        );
        let relocs = pe
            .data_directories()
            .get(IMAGE_DIRECTORY_ENTRY_BASERELOC)
            .map_or(0, |dir| dir.size.get(LE));
        assert_ne!(relocs, 0, "{}: no base relocations", d.name);
    });
}

#[test]
fn sections_are_page_aligned() {
    // HVCI maps each section with its own protection, so sections must start on pages.
    each(|d, _, pe| {
        let alignment = pe.nt_headers().optional_header().section_alignment();
        assert_eq!(alignment, 4096, "{}", d.name);
        for section in pe.section_table().iter() {
            assert_eq!(
                section.virtual_address.get(LE) % 4096,
                0,
                "{}: {:?}",
                d.name,
                String::from_utf8_lossy(section.raw_name())
            );
        }
    });
}
