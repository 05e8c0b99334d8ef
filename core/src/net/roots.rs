//! Trust anchors for the platform's certificate store where rustls-platform-verifier cannot
//! be used. On Android that verifier needs JNI set up by the app and a companion Java class;
//! without them it panics on the first handshake. Android's system store is also a plain
//! directory of PEM files, readable by every app, so Anvert reads it instead. The bundled
//! webpki roots remain the fallback when no directory gives a root.

use std::path::Path;

use rustls::RootCertStore;

/// Android's system CA directories: the updatable Conscrypt APEX (Android 14 and later)
/// first, then the system image's store (every version).
#[cfg_attr(not(target_os = "android"), allow(dead_code))]
pub(crate) const ANDROID_CA_DIRS: [&str; 2] = [
    "/apex/com.android.conscrypt/cacerts",
    "/system/etc/security/cacerts",
];

/// Adds every certificate found in the PEM files of the first directory in `dirs` that gives
/// at least one, and returns how many were added. Unreadable files, non-PEM files and
/// certificates webpki rejects are skipped: one bad file must not cost the whole store.
#[cfg_attr(not(target_os = "android"), allow(dead_code))]
pub(crate) fn add_pem_dir(dirs: &[&str], roots: &mut RootCertStore) -> usize {
    for dir in dirs {
        let added = add_one_dir(Path::new(dir), roots);
        if added > 0 {
            return added;
        }
    }
    0
}

fn add_one_dir(dir: &Path, roots: &mut RootCertStore) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut added = 0;
    for entry in entries.flatten() {
        let Ok(bytes) = std::fs::read(entry.path()) else {
            continue;
        };
        // Android's files carry `openssl x509 -text` output around the PEM block; the PEM
        // reader skips text outside BEGIN/END lines.
        let mut reader = std::io::BufReader::new(bytes.as_slice());
        for cert in rustls_pemfile::certs(&mut reader).flatten() {
            if roots.add(cert).is_ok() {
                added += 1;
            }
        }
    }
    added
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_pem(name: &str) -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn reads_an_android_style_store_and_skips_junk() {
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        // Android's layout: `<subject hash>.0`, human-readable text, then the PEM block.
        std::fs::write(
            second.path().join("5ad8a5d6.0"),
            format!("Certificate:\n    Data: ...\n{}", ca_pem("Root A")),
        )
        .unwrap();
        std::fs::write(second.path().join("0a775a30.0"), ca_pem("Root B")).unwrap();
        std::fs::write(second.path().join("broken.0"), "not a certificate").unwrap();
        let dirs = [
            "/nonexistent/anvert-ca-dir",
            first.path().to_str().unwrap(),
            second.path().to_str().unwrap(),
        ];
        let mut roots = RootCertStore::empty();
        // The missing and the empty directory give nothing; the third gives both roots.
        assert_eq!(add_pem_dir(&dirs, &mut roots), 2);
        assert_eq!(roots.len(), 2);
    }

    #[test]
    fn no_directory_no_roots() {
        let mut roots = RootCertStore::empty();
        assert_eq!(add_pem_dir(&["/nonexistent/anvert-ca-dir"], &mut roots), 0);
        assert!(roots.is_empty());
    }
}
