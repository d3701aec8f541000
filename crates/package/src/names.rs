//! Package names: making evidence and folder names safe on every target OS, and keeping them
//! unique.
//!
//! A name inside a package ends up as a file name on whoever extracts it: Windows, macOS, Linux,
//! a CD reader. [`sanitize_segment`] turns any display name into one safe file name,
//! [`sanitize_path`] does the same for a whole `/`-separated path, and [`NameAllocator`] hands out
//! names that never collide within a folder (`clip.mp4`, `clip (2).mp4`) under the equivalences
//! the recipient's file system or reader applies: case folding (Windows, macOS), Unicode
//! normalization (macOS; `café` composed and decomposed are one name there) and the ISO Joliet
//! tree's 64-character cut ([`collision_key`], [`joliet_key`]).
//!
//! Rules (see `docs/package.md`): no `.`/`..`, no separators or `: * ? " < > |`, no control
//! characters, no Windows device names (`CON`, `nul.txt`, `COM1.tar.gz`, …), no trailing dots or
//! spaces, no leading spaces, at most [`MAX_SEGMENT_BYTES`] bytes of UTF-8, never empty.

use std::collections::{HashMap, HashSet};

use icu_casemap::CaseMapper;
use icu_normalizer::{ComposingNormalizerBorrowed, DecomposingNormalizerBorrowed};

use crate::manifest::{MANIFEST_NAME, SIGNATURE_NAME};

/// Longest sanitized segment, in bytes of UTF-8, before a collision suffix such as ` (12)` or a
/// reserved-name `_` prefix is added. Leaves room under the 255-byte/255-unit limits of ext4,
/// NTFS, APFS and Rock Ridge.
pub const MAX_SEGMENT_BYTES: usize = 200;

/// Longest extension kept whole when a long name is shortened.
const MAX_KEPT_EXTENSION_BYTES: usize = 16;

/// Longest Joliet name, in characters (UCS-2 units): the Joliet specification's limit, and where
/// `hadris-iso` cuts longer names. Windows Explorer and 7-Zip show the Joliet tree.
pub const JOLIET_MAX_CHARS: usize = 64;

/// What replaces a forbidden character, and what an empty name becomes.
const REPLACEMENT: char = '_';

/// Windows device names, reserved with any extension and in any case.
const RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "COM0", "COM1", "COM2", "COM3", "COM4",
    "COM5", "COM6", "COM7", "COM8", "COM9", "COM¹", "COM²", "COM³", "LPT0", "LPT1", "LPT2", "LPT3",
    "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9", "LPT¹", "LPT²", "LPT³",
];

fn forbidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|')
        // Unicode line/paragraph separators and BOM/zero-width no-break: invisible, break tools.
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

/// Whether `name` is a Windows device name (`CON`, `com1.txt`, `NUL.tar.gz`, `Aux .log`).
pub fn is_reserved_name(name: &str) -> bool {
    let stem = name
        .split('.')
        .next()
        .unwrap_or(name)
        .trim_end_matches([' ', '.']);
    RESERVED
        .iter()
        .any(|r| r.eq_ignore_ascii_case(stem) || r.to_lowercase() == stem.to_lowercase())
}

/// Cuts `s` to at most `max` bytes at a char boundary.
fn truncate_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Splits `name` into stem and extension (with its dot). A leading dot is part of the stem.
fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(0) | None => (name, ""),
        Some(i) => (&name[..i], &name[i..]),
    }
}

/// Shortens `name` to `max` bytes, keeping a short extension whole.
fn shorten(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let (stem, ext) = split_extension(name);
    if !ext.is_empty() && ext.len() <= MAX_KEPT_EXTENSION_BYTES && ext.len() < max {
        let stem = truncate_bytes(stem, max - ext.len());
        format!("{stem}{ext}")
    } else {
        truncate_bytes(name, max).to_string()
    }
}

/// Makes one file or folder name safe on every target OS.
///
/// The result is in Unicode NFC, never empty, never `.` or `..`, contains no separator, control
/// character or `: * ? " < > |`, is not a Windows device name, has no trailing dot or space and no
/// leading space, and is at most [`MAX_SEGMENT_BYTES`] + 1 bytes. Sanitizing is idempotent.
///
/// ```
/// use casemesh_package::sanitize_segment;
/// assert_eq!(sanitize_segment("../../etc/passwd"), ".._.._etc_passwd");
/// assert_eq!(sanitize_segment("CON"), "_CON");
/// assert_eq!(sanitize_segment("report.pdf. "), "report.pdf");
/// assert_eq!(sanitize_segment(".."), "_");
/// ```
pub fn sanitize_segment(name: &str) -> String {
    // One pass is enough for almost every input; iterating to a fixed point makes idempotence
    // hold also where shortening and the reserved-name prefix interact.
    let mut current = sanitize_once(name);
    for _ in 0..4 {
        let next = sanitize_once(&current);
        if next == current {
            break;
        }
        current = next;
    }
    current
}

fn sanitize_once(name: &str) -> String {
    // NFC first: the same text always gives the same bytes, whatever the sender's keyboard or
    // file system produced (macOS hands out decomposed names).
    let composed = ComposingNormalizerBorrowed::new_nfc().normalize(name);
    let replaced: String = composed
        .chars()
        .map(|c| if forbidden(c) { REPLACEMENT } else { c })
        .collect();
    let short = shorten(&replaced, MAX_SEGMENT_BYTES);
    let trimmed = short.trim_start_matches(' ').trim_end_matches([' ', '.']);
    if trimmed.is_empty() {
        return REPLACEMENT.to_string();
    }
    if is_reserved_name(trimmed) {
        return format!("{REPLACEMENT}{trimmed}");
    }
    trimmed.to_string()
}

/// Sanitizes a whole path whose segments are separated by `/` or `\`.
///
/// Empty, `.` and `..` segments are dropped (a path never climbs out of the package), every
/// other segment goes through [`sanitize_segment`]. A path with nothing left becomes `_`.
///
/// ```
/// use casemesh_package::sanitize_path;
/// assert_eq!(sanitize_path("../../etc/passwd"), "etc/passwd");
/// assert_eq!(sanitize_path("/Evidence\\Interviews/clip?.mp4"), "Evidence/Interviews/clip_.mp4");
/// ```
pub fn sanitize_path(path: &str) -> String {
    let parts: Vec<String> = path
        .split(['/', '\\'])
        .filter(|s| !s.is_empty() && *s != "." && *s != "..")
        .map(sanitize_segment)
        .collect();
    if parts.is_empty() {
        REPLACEMENT.to_string()
    } else {
        parts.join("/")
    }
}

/// The key under which two names (or `/`-separated paths) are the same file for some recipient:
/// names with equal keys must never both be in one folder of a package.
///
/// `NFD(casefold(NFD(uppercase(NFD(name)))))`: the Unicode canonical caseless match
/// (Unicode Standard, definition D145) — what APFS and HFS+ apply (case-insensitive and normalization-insensitive:
/// `café` composed equals `CAFE\u{301}`), and `ß` equals `SS` — preceded by the full uppercase
/// mapping, because NTFS compares through an upcase table, under which `ı` (dotless i) equals `I`
/// and `i`. Wider than any one file system on purpose: a false match only costs a ` (2)` suffix,
/// a missed one overwrites a file on extraction.
///
/// Uses ICU4X (`icu_normalizer`, `icu_casemap`), the Unicode Consortium's maintained
/// implementation, so normalization and folding come from the same Unicode version.
///
/// ```
/// use casemesh_package::names::collision_key;
/// assert_eq!(collision_key("Caf\u{e9}.txt"), collision_key("CAFE\u{301}.TXT"));
/// assert_eq!(collision_key("Stra\u{df}e"), collision_key("STRASSE"));
/// assert_eq!(collision_key("F\u{131}le"), collision_key("file"));
/// assert_ne!(collision_key("a.txt"), collision_key("b.txt"));
/// ```
pub fn collision_key(name: &str) -> String {
    let nfd = DecomposingNormalizerBorrowed::new_nfd();
    let upper = nfd.normalize(name).to_uppercase();
    let upper = nfd.normalize(&upper);
    let folded = CaseMapper::new().fold_string(&upper);
    nfd.normalize(&folded).into_owned()
}

/// The name an ISO's Joliet tree shows for `name`, as `hadris-iso` writes it: cut to
/// [`JOLIET_MAX_CHARS`] characters, characters outside the Basic Multilingual Plane and those
/// Joliet forbids (controls, `* / : ; ? \`) replaced by `_`.
pub fn joliet_name(name: &str) -> String {
    name.chars()
        .take(JOLIET_MAX_CHARS)
        .map(|c| {
            if u32::from(c) > 0xFFFF
                || matches!(c, '\0'..='\u{1F}' | '*' | '/' | ':' | ';' | '?' | '\\')
            {
                REPLACEMENT
            } else {
                c
            }
        })
        .collect()
}

/// [`collision_key`] of the Joliet view of a `/`-separated path ([`joliet_name`] of every
/// segment, trailing dots and spaces dropped as Windows does): two paths with equal keys shadow
/// each other for a reader of the ISO's Joliet tree (Windows Explorer, 7-Zip).
pub fn joliet_key(path: &str) -> String {
    let view: Vec<String> = path
        .split('/')
        .map(|seg| joliet_name(seg).trim_end_matches([' ', '.']).to_string())
        .collect();
    collision_key(&view.join("/"))
}

/// Cuts `s` to at most `max` characters.
fn truncate_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Adds ` (n)` before the extension, shortening the stem so the result stays within
/// [`MAX_SEGMENT_BYTES`] and within [`JOLIET_MAX_CHARS`], so the suffix also shows in an ISO's
/// Joliet tree.
fn with_counter(name: &str, n: u32) -> String {
    let suffix = format!(" ({n})");
    let (stem, ext) = split_extension(name);
    let room = MAX_SEGMENT_BYTES.saturating_sub(suffix.len() + ext.len());
    let room_chars = JOLIET_MAX_CHARS.saturating_sub(suffix.len() + ext.chars().count());
    let stem = truncate_chars(truncate_bytes(stem, room), room_chars).trim_end_matches([' ', '.']);
    // Odd names ("... NUL") can leave an edge that sanitizing would change: keep results stable.
    sanitize_segment(&format!("{stem}{suffix}{ext}"))
}

/// Hands out package paths that never collide within a folder under [`collision_key`] (case
/// folding and Unicode normalization) nor under [`joliet_key`] (the ISO Joliet tree's cut names).
///
/// Rule: requests are served in the order made; the first `clip.mp4` in a folder keeps its name,
/// each later one whose key is taken becomes `clip (2).mp4`, `clip (3).mp4`, … (the lowest free
/// number; the stem is shortened so the whole name stays within [`JOLIET_MAX_CHARS`], so the
/// suffix is visible in every tree). The same requests in the same order always give the same
/// names. Folders are allocated too: every file asked for in folder `Interviews` of
/// the same parent lands in the same package folder, and a folder whose name is taken by a file
/// gets a suffix. The root names `manifest.json` and `manifest.sig` are reserved for the package
/// itself. Names are sanitized on the way in; pass raw display names.
///
/// ```
/// use casemesh_package::NameAllocator;
/// let mut names = NameAllocator::new();
/// assert_eq!(names.allocate(&[], "clip.mp4"), "clip.mp4");
/// assert_eq!(names.allocate(&[], "CLIP.mp4"), "CLIP (2).mp4");
/// assert_eq!(names.allocate(&["Interviews"], "clip.mp4"), "Interviews/clip.mp4");
/// assert_eq!(names.allocate(&[], "manifest.json"), "manifest (2).json");
/// ```
#[derive(Debug, Clone)]
pub struct NameAllocator {
    /// [`collision_key`]s of the full paths of every allocated file and folder.
    used: HashSet<String>,
    /// [`joliet_key`]s of the same paths.
    used_joliet: HashSet<String>,
    /// (allocated parent path, folded sanitized folder name) → allocated folder path.
    folders: HashMap<(String, String), String>,
}

impl Default for NameAllocator {
    fn default() -> Self {
        Self::new()
    }
}

impl NameAllocator {
    /// An allocator with only the package's own root files reserved.
    pub fn new() -> Self {
        let reserved = [MANIFEST_NAME, SIGNATURE_NAME];
        Self {
            used: reserved.iter().map(|n| collision_key(n)).collect(),
            used_joliet: reserved.iter().map(|n| joliet_key(n)).collect(),
            folders: HashMap::new(),
        }
    }

    /// Reserves a unique name for `name` inside `parent` (an allocated folder path, "" = root).
    fn unique(&mut self, parent: &str, name: &str) -> String {
        let full = |n: &str| {
            if parent.is_empty() {
                n.to_string()
            } else {
                format!("{parent}/{n}")
            }
        };
        let mut candidate = name.to_string();
        let mut n = 1u32;
        loop {
            let path = full(&candidate);
            let (key, joliet) = (collision_key(&path), joliet_key(&path));
            if !self.used.contains(&key) && !self.used_joliet.contains(&joliet) {
                self.used.insert(key);
                self.used_joliet.insert(joliet);
                return path;
            }
            n += 1;
            candidate = with_counter(name, n);
        }
    }

    /// The package folder for raw folder names `folders` (outermost first), created on first use.
    pub fn folder(&mut self, folders: &[&str]) -> String {
        let mut parent = String::new();
        for raw in folders {
            let name = sanitize_segment(raw);
            let key = (collision_key(&parent), collision_key(&name));
            parent = match self.folders.get(&key) {
                Some(path) => path.clone(),
                None => {
                    let path = self.unique(&parent, &name);
                    self.folders.insert(key, path.clone());
                    path
                }
            };
        }
        parent
    }

    /// A unique package path for file `name` in raw folder path `folders` (outermost first;
    /// empty for the flat layout).
    pub fn allocate(&mut self, folders: &[&str], name: &str) -> String {
        let parent = self.folder(folders);
        self.unique(&parent, &sanitize_segment(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples() {
        assert_eq!(sanitize_segment("CON.txt"), "_CON.txt");
        assert_eq!(sanitize_segment("lpt9"), "_lpt9");
        assert_eq!(sanitize_segment("nul .txt"), "_nul .txt");
        assert_eq!(sanitize_segment("COM¹"), "_COM¹");
        assert_eq!(sanitize_segment("CONSOLE"), "CONSOLE");
        assert_eq!(sanitize_segment(" a\u{0}b\tc "), "a_b_c");
        assert_eq!(sanitize_segment("..."), "_");
        assert_eq!(sanitize_segment(""), "_");
        assert_eq!(sanitize_segment("a<b>c:d\"e|f?g*h"), "a_b_c_d_e_f_g_h");
        assert_eq!(sanitize_path(""), "_");
        assert_eq!(sanitize_path("C:\\Users\\x"), "C_/Users/x");
        let long = format!("{}.mp4", "é".repeat(300));
        let s = sanitize_segment(&long);
        assert!(s.len() <= MAX_SEGMENT_BYTES && s.ends_with(".mp4"), "{s}");
    }

    #[test]
    fn allocator_disambiguates_files_and_folders() {
        let mut a = NameAllocator::new();
        assert_eq!(a.allocate(&[], "x"), "x");
        assert_eq!(a.allocate(&["x"], "f"), "x (2)/f");
        assert_eq!(a.allocate(&["X"], "f"), "x (2)/f (2)");
        assert_eq!(a.allocate(&[], "clip.mp4"), "clip.mp4");
        assert_eq!(a.allocate(&[], "clip.mp4"), "clip (2).mp4");
        assert_eq!(a.allocate(&[], "Clip.MP4"), "Clip (3).MP4");
        assert_eq!(a.allocate(&[], "clip (2).mp4"), "clip (2) (2).mp4");
        assert_eq!(a.allocate(&["..", "CON"], "a"), "_/_CON/a");
    }

    /// Names a case-insensitive, normalization-insensitive file system (NTFS, APFS, HFS+) takes
    /// for one: each later one gets a suffix, and the first keeps its name.
    #[test]
    fn allocator_separates_case_and_normalization_twins() {
        let mut a = NameAllocator::new();
        let composed = "caf\u{e9}.txt";
        let decomposed = "cafe\u{301}.txt";
        assert_eq!(a.allocate(&[], composed), composed);
        assert_eq!(a.allocate(&[], decomposed), "caf\u{e9} (2).txt");
        assert_eq!(a.allocate(&[], "CAFE\u{301}.TXT"), "CAF\u{c9} (3).TXT");
        assert_eq!(a.allocate(&[], "Stra\u{df}e.pdf"), "Stra\u{df}e.pdf");
        assert_eq!(a.allocate(&[], "STRASSE.pdf"), "STRASSE (2).pdf");
        assert_eq!(a.allocate(&[], "F\u{131}LE"), "F\u{131}LE");
        assert_eq!(a.allocate(&[], "file"), "file (2)");
        // Folders: decomposed and composed requests land in one folder.
        assert_eq!(a.allocate(&["R\u{e9}sum\u{e9}"], "x"), "R\u{e9}sum\u{e9}/x");
        assert_eq!(
            a.allocate(&["Re\u{301}sume\u{301}"], "y"),
            "R\u{e9}sum\u{e9}/y"
        );
        // After sanitizing `a:b` and `a?b` are both `a_b`.
        assert_eq!(a.allocate(&[], "a:b"), "a_b");
        assert_eq!(a.allocate(&[], "a?b"), "a_b (2)");
    }

    /// Long names equal in their first 64 characters (case-insensitively) are one name in an
    /// ISO's Joliet tree: the later one gets a suffix short enough to show there.
    #[test]
    fn allocator_separates_joliet_twins() {
        let stem = "Interview with the witness recorded at the police station in ";
        let first = format!("{stem}Rotterdam part one.mp4");
        let second = format!("{}Rotterdam part two.mp4", stem.to_uppercase());
        let mut a = NameAllocator::new();
        assert_eq!(a.allocate(&[], &first), first);
        let got = a.allocate(&[], &second);
        assert_ne!(joliet_key(&got), joliet_key(&first), "{got}");
        assert!(
            got.ends_with(" (2).mp4") && got.chars().count() <= JOLIET_MAX_CHARS,
            "{got}"
        );
        // Emoji are `_` in Joliet: two names differing only there collide.
        assert_eq!(a.allocate(&[], "\u{1F600}.txt"), "\u{1F600}.txt");
        assert_eq!(a.allocate(&[], "\u{1F601}.txt"), "\u{1F601} (2).txt");
        assert_eq!(a.allocate(&[], "a;b"), "a;b");
        assert_eq!(a.allocate(&[], "a_b"), "a_b (2)");
    }

    #[test]
    fn names_are_nfc() {
        assert_eq!(sanitize_segment("cafe\u{301}"), "caf\u{e9}");
        assert_eq!(
            sanitize_path("Re\u{301}sume\u{301}/x"),
            "R\u{e9}sum\u{e9}/x"
        );
    }
}
