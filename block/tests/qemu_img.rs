//! The block layer against QEMU's own tools: images made and written by
//! `qemu-img`/`qemu-io` are read here, images written here are read and
//! checked by them (`qemu-img check` must find no errors and no leaks).
//! Each test prints why it is skipped when qemu-img is not installed.

use ironpc_block::{open, BlockDevice, BlockError, Format, OpenError, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{RwLock, RwLockWriteGuard};

/// Tests run as threads of one process, and a child process starts as a
/// copy of it: until the child's exec closes them, it holds every open
/// file of its parent, and with them the parent's image locks (a flock
/// belongs to the open file, not to the descriptor). A test that checks
/// that a closed image is free again takes this lock for writing, so no
/// sibling test starts a tool meanwhile; starting one takes it for
/// reading.
static SPAWNING: RwLock<()> = RwLock::new(());

/// Runs `cmd` to completion, never while a lock test runs.
fn output(cmd: &mut Command) -> std::io::Result<Output> {
    let _turn = SPAWNING.read().unwrap_or_else(|e| e.into_inner());
    cmd.output()
}

/// Keeps sibling tests from starting tools until dropped.
fn no_spawning() -> RwLockWriteGuard<'static, ()> {
    SPAWNING.write().unwrap_or_else(|e| e.into_inner())
}

fn have_qemu() -> bool {
    let ok = output(Command::new("qemu-img").arg("--version")).is_ok_and(|o| o.status.success())
        && output(Command::new("qemu-io").arg("--version")).is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: qemu-img/qemu-io not installed (Debian package qemu-utils)");
    }
    ok
}

/// A fresh directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "ironpc-block-it-{}-{tag}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(dir: &Path, prog: &str, args: &[&str]) -> String {
    let out = output(Command::new(prog).args(args).current_dir(dir)).unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{prog} {args:?} failed:\n{text}");
    text
}

fn qemu_io(img: &Path, cmd: &str) -> String {
    let dir = img.parent().unwrap();
    let out = run(dir, "qemu-io", &["-c", cmd, img.to_str().unwrap()]);
    assert!(!out.contains("Pattern verification failed"), "qemu-io {cmd}: {out}");
    out
}

fn create(img: &Path, opts: &str, size: &str) {
    let dir = img.parent().unwrap();
    let mut args = vec!["create", "-q", "-f", "qcow2"];
    if !opts.is_empty() {
        args.extend(["-o", opts]);
    }
    args.extend([img.to_str().unwrap(), size]);
    run(dir, "qemu-img", &args);
}

/// `qemu-img check` reports neither errors nor leaks.
fn check_clean(img: &Path) {
    let out = run(img.parent().unwrap(), "qemu-img", &["check", img.to_str().unwrap()]);
    assert!(out.contains("No errors were found"), "qemu-img check {}:\n{out}", img.display());
    assert!(!out.contains("leaked"), "qemu-img check {}:\n{out}", img.display());
}

/// The guest's view of `img` as qemu-img sees it.
fn convert_to_raw(img: &Path, extra: &[&str]) -> Vec<u8> {
    let out = img.with_extension("converted.raw");
    let mut args = vec!["convert"];
    args.extend(extra);
    args.extend(["-O", "raw", img.to_str().unwrap(), out.to_str().unwrap()]);
    run(img.parent().unwrap(), "qemu-img", &args);
    let data = std::fs::read(&out).unwrap();
    std::fs::remove_file(out).unwrap();
    data
}

fn rw() -> OpenOptions {
    OpenOptions::default()
}

fn ro() -> OpenOptions {
    OpenOptions { read_only: true, ..OpenOptions::default() }
}

fn read_all(d: &mut dyn BlockDevice) -> Vec<u8> {
    let mut v = vec![0u8; d.size() as usize];
    // In pieces of odd sizes, so that requests straddle clusters.
    let mut at = 0;
    while at < v.len() {
        let n = (v.len() - at).min(33_333);
        d.read_at(at as u64, &mut v[at..at + n]).unwrap();
        at += n;
    }
    v
}

/// xorshift64*: a seeded generator, printed so failures replay.
struct Rng(u64);
impl Rng {
    fn new(seed: u64) -> Self {
        println!("seed {seed:#x}");
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn pattern(model: &mut [u8], off: usize, len: usize, byte: u8) {
    model[off..off + len].fill(byte);
}

#[test]
fn data_written_by_qemu_io_reads_back_for_v2_and_v3_and_every_cluster_size() {
    if !have_qemu() {
        return;
    }
    let dir = TempDir::new("qemu-writes");
    for (i, opts) in ["compat=0.10", "compat=1.1,cluster_size=512", "compat=1.1,cluster_size=2M", "compat=0.10,cluster_size=4096"]
        .iter()
        .enumerate()
    {
        let img = dir.join(&format!("img{i}.qcow2"));
        create(&img, opts, "8M");
        qemu_io(&img, "write -P 0xab 0 64k");
        qemu_io(&img, "write -P 0xcd 1000000 5000");
        qemu_io(&img, "write -P 0xef 8384000 4608");
        let mut model = vec![0u8; 8 << 20];
        pattern(&mut model, 0, 65536, 0xab);
        pattern(&mut model, 1_000_000, 5000, 0xcd);
        pattern(&mut model, 8_384_000, 4608, 0xef);
        let mut d = open(&img, &ro()).unwrap();
        assert_eq!(d.size(), 8 << 20);
        assert!(d.read_only());
        assert!(read_all(d.as_mut()) == model, "{opts}");
    }
}

#[test]
fn data_written_here_is_read_back_by_qemu_io_and_qemu_img_convert() {
    if !have_qemu() {
        return;
    }
    let dir = TempDir::new("our-writes");
    for (i, opts) in ["compat=0.10", "compat=1.1,cluster_size=4096", "compat=1.1,cluster_size=2M"].iter().enumerate() {
        let img = dir.join(&format!("img{i}.qcow2"));
        create(&img, opts, "4M");
        let mut model = vec![0u8; 4 << 20];
        {
            let mut d = open(&img, &rw()).unwrap();
            d.write_at(100_000, &[0x5a; 70_000]).unwrap();
            d.write_at(0, &[0x11; 512]).unwrap();
            d.write_at(4 * 1024 * 1024 - 512, &[0x22; 512]).unwrap();
            d.flush().unwrap();
        }
        pattern(&mut model, 100_000, 70_000, 0x5a);
        pattern(&mut model, 0, 512, 0x11);
        pattern(&mut model, (4 << 20) - 512, 512, 0x22);
        qemu_io(&img, "read -P 0x5a 100000 70000");
        qemu_io(&img, "read -P 0x11 0 512");
        qemu_io(&img, "read -P 0 512 99488");
        check_clean(&img);
        assert!(convert_to_raw(&img, &[]) == model, "{opts}");
    }
}

/// Many random writes, some needing new L2 tables, new refcount blocks and
/// a bigger refcount table (small clusters and wide refcounts make that
/// quick), leave an image qemu-img finds clean and identical to the model.
#[test]
fn random_writes_leave_a_clean_image_with_exact_refcounts() {
    if !have_qemu() {
        return;
    }
    let dir = TempDir::new("random");
    let variants = [
        ("compat=0.10,cluster_size=512", 1500),
        ("compat=1.1,cluster_size=512,refcount_bits=64", 600),
        ("compat=1.1,cluster_size=1024,refcount_bits=1", 600),
        ("compat=1.1,cluster_size=65536", 300),
    ];
    for (i, (opts, writes)) in variants.iter().enumerate() {
        let img = dir.join(&format!("img{i}.qcow2"));
        create(&img, opts, "24M");
        let header_before = std::fs::read(&img).unwrap()[48..60].to_vec();
        let mut rng = Rng::new(0x5eed_0000 + i as u64);
        let mut model = vec![0u8; 24 << 20];
        let mut d = open(&img, &rw()).unwrap();
        for n in 0..*writes {
            let len = (rng.next() % 20_000) as usize + 1;
            let off = (rng.next() % (model.len() - len) as u64) as usize;
            let data = rng.bytes(len);
            d.write_at(off as u64, &data).unwrap();
            model[off..off + len].copy_from_slice(&data);
            if n % 97 == 0 {
                let mut back = vec![0u8; len];
                d.read_at(off as u64, &mut back).unwrap();
                assert!(back == data, "{opts}: read after write {n}");
                d.flush().unwrap();
            }
        }
        d.flush().unwrap();
        assert!(read_all(d.as_mut()) == model, "{opts}: reads before closing");
        drop(d);
        check_clean(&img);
        assert!(convert_to_raw(&img, &[]) == model, "{opts}: qemu-img's view");
        if opts.contains("refcount_bits=64") {
            let header_after = std::fs::read(&img).unwrap()[48..60].to_vec();
            assert_ne!(header_before, header_after, "the refcount table should have moved");
        }
        let mut d = open(&img, &ro()).unwrap();
        assert!(read_all(d.as_mut()) == model, "{opts}: reads after reopening");
    }
}

#[test]
fn a_backing_chain_reads_through_and_copy_on_write_leaves_the_lower_images_alone() {
    if !have_qemu() {
        return;
    }
    let dir = TempDir::new("chain");
    let mut rng = Rng::new(0xBAC4);
    let base = rng.bytes(3 << 20);
    std::fs::write(dir.join("base.raw"), &base).unwrap();
    // Relative backing names, resolved against each overlay's directory.
    run(
        &dir.0,
        "qemu-img",
        &["create", "-q", "-f", "qcow2", "-o", "compat=0.10", "-b", "base.raw", "-F", "raw", "mid.qcow2", "4M"],
    );
    qemu_io(&dir.join("mid.qcow2"), "write -P 0x11 1048576 65536");
    run(&dir.0, "qemu-img", &["create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", "top.qcow2", "6M"]);
    let mid_before = std::fs::read(dir.join("mid.qcow2")).unwrap();

    let mut model = vec![0u8; 6 << 20];
    model[..base.len()].copy_from_slice(&base);
    pattern(&mut model, 1 << 20, 65536, 0x11);
    let mut d = open(&dir.join("top.qcow2"), &rw()).unwrap();
    assert!(read_all(d.as_mut()) == model, "reads through the chain");
    // Partial clusters: the rest of each cluster comes from below.
    for (off, len, byte) in [(1_048_676usize, 1000usize, 0x77u8), (3_145_000, 3000, 0x88), (100, 10, 0x99), (5 << 20, 512, 0xaa)]
    {
        d.write_at(off as u64, &vec![byte; len]).unwrap();
        pattern(&mut model, off, len, byte);
    }
    assert!(read_all(d.as_mut()) == model, "reads after copy-on-write");
    d.flush().unwrap();
    drop(d);
    assert!(std::fs::read(dir.join("base.raw")).unwrap() == base, "the raw base is unchanged");
    assert!(std::fs::read(dir.join("mid.qcow2")).unwrap() == mid_before, "the middle image is unchanged");
    check_clean(&dir.join("top.qcow2"));
    assert!(convert_to_raw(&dir.join("top.qcow2"), &[]) == model);
}

#[test]
fn a_backing_file_without_a_named_format_is_detected_by_content() {
    if !have_qemu() {
        return;
    }
    let dir = TempDir::new("probe");
    std::fs::write(dir.join("base.img"), vec![0x5au8; 1 << 20]).unwrap();
    run(&dir.0, "qemu-img", &["create", "-q", "-f", "qcow2", "-b", "base.img", "-F", "raw", "mid.img"]);
    run(&dir.0, "qemu-img", &["create", "-q", "-f", "qcow2", "-b", "mid.img", "-F", "qcow2", "top.img"]);
    // Rename the backing-format extensions to an unknown type (ignored).
    for name in ["mid.img", "top.img"] {
        let mut img = std::fs::read(dir.join(name)).unwrap();
        let at = img[..4096].windows(4).position(|w| w == [0xe2, 0x79, 0x2a, 0xca]).unwrap();
        img[at..at + 4].copy_from_slice(&[0x12, 0x34, 0x56, 0x78]);
        std::fs::write(dir.join(name), img).unwrap();
    }
    let mut d = open(&dir.join("top.img"), &ro()).unwrap();
    assert!(read_all(d.as_mut()).iter().all(|&b| b == 0x5a));
}

#[test]
fn compressed_clusters_read_and_rewrite_correctly() {
    if !have_qemu() {
        return;
    }
    let dir = TempDir::new("compressed");
    let mut rng = Rng::new(0xC0C0);
    let mut raw = vec![0u8; 2 << 20];
    for (i, chunk) in raw.chunks_mut(4096).enumerate() {
        if i % 3 == 0 {
            chunk.copy_from_slice(&rng.bytes(4096)); // incompressible: stored
        } else {
            chunk.iter_mut().enumerate().for_each(|(j, b)| *b = (i + j / 64) as u8);
        }
    }
    std::fs::write(dir.join("src.raw"), &raw).unwrap();
    for (i, opts) in ["compat=0.10", "compat=1.1,cluster_size=4096", "compat=1.1"].iter().enumerate() {
        let img = dir.join(&format!("c{i}.qcow2"));
        run(&dir.0, "qemu-img", &["convert", "-c", "-O", "qcow2", "-o", opts, "src.raw", img.to_str().unwrap()]);
        let mut model = raw.clone();
        let mut d = open(&img, &rw()).unwrap();
        assert!(read_all(d.as_mut()) == model, "{opts}: compressed reads");
        for (off, len) in [(4096 + 100, 200usize), (70_000, 70_000), (2_000_000, 4096)] {
            let data = rng.bytes(len);
            d.write_at(off as u64, &data).unwrap();
            model[off..off + len].copy_from_slice(&data);
        }
        assert!(read_all(d.as_mut()) == model, "{opts}: after rewriting compressed clusters");
        d.flush().unwrap();
        drop(d);
        check_clean(&img);
        assert!(convert_to_raw(&img, &[]) == model, "{opts}");
    }
}

#[test]
fn v3_zero_clusters_read_as_zeros_and_a_partial_write_keeps_the_rest_zero() {
    if !have_qemu() {
        return;
    }
    let dir = TempDir::new("zero");
    let base = vec![0x33u8; 1 << 20];
    std::fs::write(dir.join("base.raw"), &base).unwrap();
    run(&dir.0, "qemu-img", &["create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", "z.qcow2", "1M"]);
    let img = dir.join("z.qcow2");
    qemu_io(&img, "write -P 0xab 0 256k");
    qemu_io(&img, "write -z 0 64k"); // allocated cluster turned zero
    qemu_io(&img, "write -z 512k 64k"); // unallocated: zero over the backing file's data
    let mut model = base.clone();
    pattern(&mut model, 0, 256 << 10, 0xab);
    pattern(&mut model, 0, 64 << 10, 0);
    pattern(&mut model, 512 << 10, 64 << 10, 0);
    let mut d = open(&img, &rw()).unwrap();
    assert!(read_all(d.as_mut()) == model);
    for off in [1000usize, (512 << 10) + 7000] {
        d.write_at(off as u64, &[0xcd; 100]).unwrap();
        pattern(&mut model, off, 100, 0xcd);
    }
    assert!(read_all(d.as_mut()) == model);
    drop(d);
    check_clean(&img);
    assert!(convert_to_raw(&img, &[]) == model);
}

#[test]
fn internal_snapshots_keep_their_data_and_refcounts() {
    if !have_qemu() {
        return;
    }
    let dir = TempDir::new("snap");
    for (i, opts) in ["compat=0.10,cluster_size=4096", "compat=1.1"].iter().enumerate() {
        let img = dir.join(&format!("s{i}.qcow2"));
        create(&img, opts, "2M");
        qemu_io(&img, "write -P 0xab 0 512k");
        run(&dir.0, "qemu-img", &["snapshot", "-c", "s1", img.to_str().unwrap()]);
        let mut model = vec![0u8; 2 << 20];
        pattern(&mut model, 0, 512 << 10, 0xab);
        let snap = model.clone();
        let mut d = open(&img, &rw()).unwrap();
        for (off, len) in [(65_536usize, 1000usize), (200_000, 300_000), (1_500_000, 10)] {
            d.write_at(off as u64, &vec![0xcd; len]).unwrap();
            pattern(&mut model, off, len, 0xcd);
        }
        d.flush().unwrap();
        drop(d);
        check_clean(&img);
        assert!(convert_to_raw(&img, &[]) == model, "{opts}: the active layer");
        assert!(convert_to_raw(&img, &["-l", "snapshot.name=s1"]) == snap, "{opts}: the snapshot");
    }
}

#[test]
fn a_second_writer_is_refused_and_readers_share() {
    if !have_qemu() {
        return;
    }
    let dir = TempDir::new("lock");
    let img = dir.join("l.qcow2");
    create(&img, "", "1M");
    let raw = dir.join("l.raw");
    std::fs::write(&raw, vec![0u8; 1 << 20]).unwrap();
    let _alone = no_spawning();
    for path in [&img, &raw] {
        let w = open(path, &rw()).unwrap();
        for opts in [rw(), ro()] {
            let e = open(path, &opts).unwrap_err();
            assert!(matches!(e, OpenError::Locked { .. }), "{e}");
            let msg = e.to_string();
            assert!(msg.contains(path.to_str().unwrap()) && msg.contains("in use by another process"), "{msg}");
        }
        drop(w);
        let r1 = open(path, &ro()).unwrap();
        let r2 = open(path, &ro()).unwrap();
        assert!(matches!(open(path, &rw()), Err(OpenError::Locked { .. })));
        // Snapshot mode only reads the image, so it shares with readers.
        let mut s = open(path, &OpenOptions { snapshot: true, ..rw() }).unwrap();
        s.write_at(0, &[1; 512]).unwrap();
        drop((r1, r2, s));
        open(path, &rw()).unwrap();
    }
}

#[test]
fn snapshot_mode_leaves_the_image_byte_identical() {
    if !have_qemu() {
        return;
    }
    let dir = TempDir::new("snapshot-mode");
    let img = dir.join("s.qcow2");
    create(&img, "cluster_size=4096", "4M");
    qemu_io(&img, "write -P 0xab 0 1M");
    let raw = dir.join("s.raw");
    std::fs::write(&raw, vec![0x44u8; 4 << 20]).unwrap();
    for path in [&img, &raw] {
        let before = std::fs::read(path).unwrap();
        let mut d = open(path, &OpenOptions { snapshot: true, ..rw() }).unwrap();
        assert!(!d.read_only());
        let mut model = read_all(d.as_mut());
        let mut rng = Rng::new(0x5a5a);
        for _ in 0..50 {
            let len = (rng.next() % 10_000) as usize + 1;
            let off = (rng.next() % (model.len() - len) as u64) as usize;
            let data = rng.bytes(len);
            d.write_at(off as u64, &data).unwrap();
            model[off..off + len].copy_from_slice(&data);
        }
        d.flush().unwrap();
        assert!(read_all(d.as_mut()) == model, "the overlay holds the writes");
        drop(d);
        assert!(std::fs::read(path).unwrap() == before, "{} changed", path.display());
    }
}

#[test]
fn formats_are_detected_by_content_and_a_contradicting_format_is_an_error() {
    if !have_qemu() {
        return;
    }
    let dir = TempDir::new("format");
    let img = dir.join("disk.raw"); // a qcow2 file with a misleading name
    create(&img, "", "1M");
    let raw = dir.join("disk.qcow2");
    std::fs::write(&raw, vec![0u8; 65536]).unwrap();
    assert_eq!(open(&img, &ro()).unwrap().size(), 1 << 20);
    assert_eq!(open(&raw, &ro()).unwrap().size(), 65536);
    let e = open(&raw, &OpenOptions { format: Some(Format::Qcow2), ..ro() }).unwrap_err();
    assert!(matches!(e, OpenError::FormatMismatch { .. }), "{e}");
    assert!(e.to_string().contains("is a raw image, not qcow2"), "{e}");
    // format=raw on a qcow2 file is allowed: the guest sees the file itself.
    let mut d = open(&img, &OpenOptions { format: Some(Format::Raw), ..ro() }).unwrap();
    assert_eq!(d.size(), std::fs::metadata(&img).unwrap().len());
    let mut magic = [0u8; 4];
    d.read_at(0, &mut magic).unwrap();
    assert_eq!(&magic, b"QFI\xfb");
}

#[test]
fn broken_images_give_one_line_errors_naming_the_file() {
    if !have_qemu() {
        return;
    }
    let dir = TempDir::new("broken");
    let img = dir.join("b.qcow2");
    create(&img, "compat=1.1", "1M");
    let good = std::fs::read(&img).unwrap();

    std::fs::write(&img, &good[..200]).unwrap();
    let e = open(&img, &ro()).unwrap_err();
    assert!(matches!(e, OpenError::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains(img.to_str().unwrap()) && !e.to_string().contains('\n'), "{e}");

    let mut bad = good.clone();
    bad[79] |= 1 << 5; // incompatible feature bit 5: unknown
    std::fs::write(&img, &bad).unwrap();
    let e = open(&img, &ro()).unwrap_err();
    assert!(matches!(e, OpenError::Unsupported { .. }) && e.to_string().contains("bit 5"), "{e}");

    let ext = dir.join("ext.qcow2");
    create(&ext, "extended_l2=on", "1M");
    let e = open(&ext, &ro()).unwrap_err();
    assert!(e.to_string().contains("extended L2"), "{e}");

    std::fs::write(&img, &good).unwrap();
    run(&dir.0, "qemu-img", &["rebase", "-u", "-b", "gone.raw", "-F", "raw", "b.qcow2"]);
    let e = open(&img, &ro()).unwrap_err();
    assert!(matches!(e, OpenError::Backing { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("b.qcow2") && msg.contains("gone.raw"), "{msg}");

    // Read-only files: root may write anyway, so only checked when refused.
    let ro_file = dir.join("ro.raw");
    std::fs::write(&ro_file, [0u8; 512]).unwrap();
    let mut perm = std::fs::metadata(&ro_file).unwrap().permissions();
    perm.set_readonly(true);
    std::fs::set_permissions(&ro_file, perm).unwrap();
    // Root writes read-only files anyway; sysfs files refuse even root.
    let ro_file = if std::fs::OpenOptions::new().write(true).open(&ro_file).is_err() {
        Some(ro_file)
    } else {
        let notes = PathBuf::from("/sys/kernel/notes");
        (std::fs::File::open(&notes).is_ok() && std::fs::OpenOptions::new().write(true).open(&notes).is_err()).then_some(notes)
    };
    match ro_file {
        None => eprintln!("skipped the read-only-file check: no file here refuses this user's writes"),
        Some(ro_file) => {
            let e = open(&ro_file, &rw()).unwrap_err();
            assert!(matches!(e, OpenError::ReadOnlyFile { .. }) && e.to_string().contains("readonly=on"), "{e}");
            open(&ro_file, &ro()).unwrap();
        }
    }
}

#[test]
fn writes_to_a_read_only_qcow2_are_refused() {
    if !have_qemu() {
        return;
    }
    let dir = TempDir::new("ro");
    let img = dir.join("r.qcow2");
    create(&img, "", "1M");
    let mut d = open(&img, &ro()).unwrap();
    assert!(matches!(d.write_at(0, &[1]), Err(BlockError::ReadOnly)));
    assert!(matches!(d.read_at(1 << 20, &mut [0]), Err(BlockError::OutOfRange { .. })));
}

/// Random damage anywhere in an image's metadata (L1, L2, refcount table
/// and blocks, header, snapshot table) gives errors, never a panic, on
/// open, reads, writes and flush.
#[test]
fn damaged_metadata_gives_errors_not_panics() {
    if !have_qemu() {
        return;
    }
    let dir = TempDir::new("fuzz");
    let img = dir.join("f.qcow2");
    create(&img, "cluster_size=512", "1M");
    qemu_io(&img, "write -P 0xab 0 20k");
    qemu_io(&img, "write -P 0xcd 600k 3k");
    run(&dir.0, "qemu-img", &["snapshot", "-c", "s1", "f.qcow2"]);
    qemu_io(&img, "write -P 0xef 10k 2k");
    let comp = dir.join("c.qcow2");
    run(&dir.0, "qemu-img", &["convert", "-c", "-O", "qcow2", "-o", "cluster_size=512", "f.qcow2", "c.qcow2"]);
    let mut rng = Rng::new(0xF022);
    for source in [&img, &comp] {
        let good = std::fs::read(source).unwrap();
        let victim = dir.join("victim.qcow2");
        let (mut opened, mut failed) = (0, 0);
        for _ in 0..300 {
            let mut bad = good.clone();
            for _ in 0..1 + rng.next() % 4 {
                // Mostly the metadata near the start, sometimes anywhere.
                let span = if rng.next().is_multiple_of(4) { bad.len() } else { bad.len().min(8192) };
                let at = (rng.next() % span as u64) as usize;
                bad[at] = match rng.next() % 3 {
                    0 => 0xff,
                    1 => 0,
                    _ => rng.next() as u8,
                };
            }
            std::fs::write(&victim, &bad).unwrap();
            match open(&victim, &rw()) {
                Err(e) => {
                    assert!(!e.to_string().contains('\n'), "{e}");
                    failed += 1;
                }
                Ok(mut d) => {
                    opened += 1;
                    let size = d.size();
                    let mut buf = vec![0u8; 4096];
                    for off in [0, size / 3, size.saturating_sub(4096)] {
                        let _ = d.read_at(off, &mut buf);
                        let _ = d.write_at(off, &buf[..1000.min(size as usize)]);
                    }
                    let _ = d.flush();
                }
            }
        }
        println!("{}: {opened} damaged images opened, {failed} refused", source.display());
        assert!(opened > 0 && failed > 0);
    }
}

/// Autoclear features (here a persistent dirty bitmap) are data a writer
/// must keep up to date or disown: opening for writing clears the bits.
#[test]
fn opening_for_writing_clears_autoclear_features() {
    if !have_qemu() {
        return;
    }
    let dir = TempDir::new("autoclear");
    let img = dir.join("a.qcow2");
    create(&img, "", "1M");
    run(&dir.0, "qemu-img", &["bitmap", "--add", "a.qcow2", "b0"]);
    let autoclear = |p: &Path| u64::from_be_bytes(std::fs::read(p).unwrap()[88..96].try_into().unwrap());
    assert_ne!(autoclear(&img), 0, "qemu-img should have set the bitmaps bit");
    drop(open(&img, &ro()).unwrap());
    assert_ne!(autoclear(&img), 0, "a reader leaves it");
    let mut d = open(&img, &rw()).unwrap();
    d.write_at(4096, &[9; 4096]).unwrap();
    drop(d);
    assert_eq!(autoclear(&img), 0);
    // The disowned bitmap's clusters are now leaked (as the spec intends:
    // QEMU says "a program lacking bitmap support modified this file"):
    // harmless, and `qemu-img check -r leaks` reclaims them. No errors.
    let out = output(Command::new("qemu-img").args(["check", img.to_str().unwrap()])).unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "leaks only:\n{text}");
    assert!(text.contains("lacking bitmap support") && !text.contains("ERROR"), "{text}");
    qemu_io(&img, "read -P 9 4096 4096");
}

#[test]
fn an_image_made_by_create_qcow2_is_one_qemu_accepts() {
    if !have_qemu() {
        return;
    }
    let dir = TempDir::new("create");
    let img = dir.join("new.qcow2");
    ironpc_block::create_qcow2(&img, 100 << 20).unwrap();
    check_clean(&img);
    qemu_io(&img, "write -P 0x42 50M 1M");
    let mut d = open(&img, &rw()).unwrap();
    assert_eq!(d.size(), 100 << 20);
    let mut b = vec![0u8; 1 << 20];
    d.read_at(50 << 20, &mut b).unwrap();
    assert!(b.iter().all(|&x| x == 0x42));
    d.write_at(99 << 20, &b).unwrap();
    drop(d);
    check_clean(&img);
    qemu_io(&img, "read -P 0x42 99M 1M");
    assert!(matches!(ironpc_block::create_qcow2(&img, 1 << 20), Err(OpenError::Io { .. })), "never overwrites");
}
