//! Property tests for package names: `sanitize_segment`, `sanitize_path`, `NameAllocator`.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too

use std::collections::HashSet;

use casemesh_package::names::{
    JOLIET_MAX_CHARS, MAX_SEGMENT_BYTES, collision_key, is_reserved_name, joliet_key,
};
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

/// Names that come in twins on some file system: case variants, composed and decomposed
/// accents, `ß`/`SS`, dotless i, long names equal in their first 64 characters, emoji.
fn twin_name() -> impl Strategy<Value = String> {
    let base = prop_oneof![
        Just("caf\u{e9}".to_string()),
        Just("cafe\u{301}".to_string()),
        Just("CAF\u{c9}".to_string()),
        Just("CAFE\u{301}".to_string()),
        Just("Stra\u{df}e".to_string()),
        Just("STRASSE".to_string()),
        Just("stra\u{1e9e}e".to_string()),
        Just("f\u{131}le".to_string()),
        Just("FILE".to_string()),
        Just("\u{1F600}".to_string()),
        Just("\u{1F601}".to_string()),
        Just("a;b".to_string()),
        Just("a_b".to_string()),
        Just("\u{212B}ngstr\u{f6}m".to_string()), // KELVIN/ANGSTROM signs normalize to letters
        Just("\u{c5}NGSTRO\u{308}M".to_string()),
        "[a-cA-C\u{e9}\u{301}]{60,70}",
    ];
    (base, "(|\\.txt|\\.TXT|\\.mp4| part [12]\\.mp4)").prop_map(|(b, ext)| format!("{b}{ext}"))
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
    let nfc = icu_normalizer::ComposingNormalizerBorrowed::new_nfc();
    assert_eq!(nfc.normalize(s), s, "not NFC");
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
        let mut keys = HashSet::new();
        let mut joliet = HashSet::new();
        for (dirs, name) in &files {
            let dirs: Vec<&str> = dirs.iter().map(String::as_str).collect();
            let path = names.allocate(&dirs, name);
            prop_assert_eq!(sanitize_path(&path), path.clone());
            let folded = path.to_lowercase();
            prop_assert!(folded != "manifest.json" && folded != "manifest.sig");
            prop_assert!(seen.insert(folded.clone()), "duplicate {}", path);
            prop_assert!(keys.insert(collision_key(&path)), "case/normalization twin {}", path);
            prop_assert!(joliet.insert(joliet_key(&path)), "Joliet twin {}", path);
            let segs: Vec<&str> = folded.split('/').collect();
            for i in 1..segs.len() {
                folders.insert(segs[..i].join("/"));
            }
        }
        // No file path is also a folder of another file.
        prop_assert!(seen.is_disjoint(&folders));
    }

}

proptest! {
    // Each case allocates up to 40 names twice (determinism): fewer cases keep the run short.
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// No two allocated paths are the same file after case folding + NFC/NFD, in the package or
    /// in the ISO's Joliet tree, also against folders; the same requests give the same names.
    #[test]
    fn allocator_separates_every_twin_deterministically(
        files in prop::collection::vec(
            (prop::collection::vec(twin_name(), 0..3), prop_oneof![twin_name(), nasty_name()]),
            1..40,
        )
    ) {
        let run = || {
            let mut names = NameAllocator::new();
            files
                .iter()
                .map(|(dirs, name)| {
                    let dirs: Vec<&str> = dirs.iter().map(String::as_str).collect();
                    names.allocate(&dirs, name)
                })
                .collect::<Vec<String>>()
        };
        let paths = run();
        prop_assert_eq!(&paths, &run(), "not deterministic");
        let mut keys = HashSet::new();
        let mut joliet = HashSet::new();
        let mut folder_keys = HashSet::new();
        let mut folder_joliet = HashSet::new();
        for path in &paths {
            prop_assert_eq!(sanitize_path(path), path.clone());
            prop_assert!(keys.insert(collision_key(path)), "twin {} in {:#?}", path, paths);
            prop_assert!(joliet.insert(joliet_key(path)), "Joliet twin {} in {:#?}", path, paths);
            let segs: Vec<&str> = path.split('/').collect();
            for i in 1..segs.len() {
                folder_keys.insert(collision_key(&segs[..i].join("/")));
                folder_joliet.insert(joliet_key(&segs[..i].join("/")));
            }
            // A suffixed name fits the Joliet limit, so its suffix shows there.
            let last = segs[segs.len() - 1];
            if last.contains(" (") && last.chars().count() > JOLIET_MAX_CHARS {
                // Only names asked for that way may be long and carry ` (`.
                prop_assert!(files.iter().any(|(_, n)| n.contains(" (")), "{}", last);
            }
        }
        prop_assert!(keys.is_disjoint(&folder_keys), "a file and a folder are twins");
        prop_assert!(joliet.is_disjoint(&folder_joliet), "a file and a folder are Joliet twins");
    }
}
