//! `uniffi-bindgen` at the library's UniFFI version: generates the Kotlin and Swift sources
//! from the built `anvert_ffi` cdylib (library mode). See scripts/gen-bindings.sh.

fn main() {
    uniffi::uniffi_bindgen_main()
}
