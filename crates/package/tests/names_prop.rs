//! Property tests for package names: `sanitize_segment`, `sanitize_path`, `NameAllocator`.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too

use std::collections::HashSet;

use casemesh_package::names::{MAX_SEGMENT_BYTES, is_reserved_name};
use casemesh_package::{NameAllocator, sanitize_path, sanitize_segment};
use proptest::prelude::*;

/// Names that stress the rules: dots, spaces, separators, device names, Unicode, controls.
fn nasty_name() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ .]{0,4}(CON|prn|Aux|NUL|com[0-9¹²³]|LPT[0-9]|conin\\$|clip)[ .]{0,3}(\\.[a-zA-Z]{0,4})?[ .]{0,3}",
        "[./\\\\:*?\"<>| \\x00-\\x1f\\x7f\\u{2028}a-cé]{0,12}",
        ".{190,260}",
        "[a-z]{1,3}\\.[a-z]{0,3}",
    ]
}

fn check_segment(s: &str) {
    assert!(!s.is_empty());
    assert!(s != "." && s != "..");
    assert!(
        !s.chars()
            .any(|c| c.is_control() || "/\\:*?\"<>|".contains(c)),
        "{s:?}"
    );
    assert!(!is_reserved_name(s), "{s:?}");
    assert!(
        !s.ends_with('.') && !s.ends_with(' ') && !s.starts_with(' '),
        "{s:?}"
    );
    assert!(s.len() <= MAX_SEGMENT_BYTES + 1, "{} bytes", s.len());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn sanitized_segments_are_safe(name in nasty_name()) {
        let s = sanitize_segment(&name);
        check_segment(&s);
        prop_assert_eq!(sanitize_segment(&s), s.clone(), "not idempotent");
    }

    #[test]
    fn sanitized_paths_never_escape(parts in prop::collection::vec(nasty_name(), 0..6), sep in "[/\\\\]") {
        let raw = parts.join(&sep);
        let p = sanitize_path(&raw);
        prop_assert!(!p.starts_with('/'));
        for seg in p.split('/') {
            check_segment(seg);
        }
        prop_assert_eq!(sanitize_path(&p), p);
    }

    #[test]
    fn allocator_never_yields_duplicates(
        files in prop::collection::vec((prop::collection::vec("(a|A|b|\\.\\.|CON|x y)", 0..3), nasty_name()), 1..60)
    ) {
        let mut names = NameAllocator::new();
        let mut seen = HashSet::new();
        let mut folders = HashSet::new();
        for (dirs, name) in &files {
            let dirs: Vec<&str> = dirs.iter().map(String::as_str).collect();
            let path = names.allocate(&dirs, name);
            prop_assert_eq!(sanitize_path(&path), path.clone());
            let folded = path.to_lowercase();
            prop_assert!(folded != "manifest.json" && folded != "manifest.sig");
            prop_assert!(seen.insert(folded.clone()), "duplicate {}", path);
            let segs: Vec<&str> = folded.split('/').collect();
            for i in 1..segs.len() {
                folders.insert(segs[..i].join("/"));
            }
        }
        // No file path is also a folder of another file.
        prop_assert!(seen.is_disjoint(&folders));
    }
}
