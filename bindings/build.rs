//! Link settings for the cdylib alone (issue 7, library size): pack its relative relocations,
//! which are most of its dynamic relocations (vtables, panic locations, string tables).
//! Unpacked they take about 220 KB of `.rela.dyn`.
//!
//! - Linux (glibc): `DT_RELR`. The linker records a need for `GLIBC_ABI_DT_RELR`, so a glibc
//!   older than 2.36 refuses to load the library with a clear message instead of misloading it.
//! - Android: the NDK's APS2 packing, which every Android since API 23 loads (minSdk is 24+).
//! - Apple platforms: ld64 already writes compact fixups; nothing to add.
//!
//! And where the linker is LLD (Rust's default for x86_64 Linux since 1.90; the NDK's for
//! Android), fold identical functions (`--icf=all`): generic code often compiles to the same
//! machine code for different types. About -32 KB. Nothing in Anvert or its dependencies
//! relies on two functions having different addresses.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let link_arg = |arg: &str| println!("cargo:rustc-cdylib-link-arg={arg}");
    match (os.as_str(), env.as_str()) {
        ("linux", "gnu") => {
            link_arg("-Wl,-z,pack-relative-relocs");
            if arch == "x86_64" {
                link_arg("-Wl,--icf=all");
            }
        }
        ("android", _) => {
            link_arg("-Wl,--pack-dyn-relocs=android");
            link_arg("-Wl,--icf=all");
        }
        _ => {}
    }
}
