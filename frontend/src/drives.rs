//! The drives on the command line, as QEMU takes them (its qemu-options.hx,
//! `-hda`, `-cdrom`, `-fda`, `-boot`, `-drive`, `-snapshot`):
//!
//! - `--hda`..`--hdd FILE`: IDE disks at index 0-3 (primary master, primary
//!   slave, secondary master, secondary slave);
//! - `--cdrom FILE`: a CD-ROM at index 2, the secondary master;
//! - `--fda`/`--fdb FILE`: floppy drives A and B;
//! - `--drive file=PATH,if=ide|floppy,index=N,media=disk|cdrom,
//!   format=raw|qcow2,readonly=on|off,snapshot=on|off` (`,,` is a comma
//!   in the path; without `index`, the first free one of the interface);
//! - `--snapshot`: every drive writes to a temporary overlay;
//! - `--boot ORDER`: `a` floppy, `c` hard disk, `d` CD-ROM, at most three,
//!   written to the CMOS boot-order bytes SeaBIOS reads (default `cad`,
//!   as QEMU's `-M pc`).
//!
//! A CD-ROM is always read-only. An image's format is detected from its
//! content unless `format=` names it.

use clap::{ArgAction, Args};
use ironpc::block::{self, Format, OpenOptions};
use ironpc::IdeDrive;
use std::path::PathBuf;

/// The drive options, flattened into [`crate::options::Options`].
#[derive(Args, Debug, Default)]
pub struct DriveOptions {
    /// IDE primary master disk image (raw or qcow2).
    #[arg(long, value_name = "FILE")]
    pub hda: Option<PathBuf>,
    /// IDE primary slave disk image.
    #[arg(long, value_name = "FILE")]
    pub hdb: Option<PathBuf>,
    /// IDE secondary master disk image.
    #[arg(long, value_name = "FILE")]
    pub hdc: Option<PathBuf>,
    /// IDE secondary slave disk image.
    #[arg(long, value_name = "FILE")]
    pub hdd: Option<PathBuf>,
    /// CD-ROM image (an ISO) in a drive at the IDE secondary master.
    #[arg(long, value_name = "FILE")]
    pub cdrom: Option<PathBuf>,
    /// Floppy image in drive A.
    #[arg(long, value_name = "FILE")]
    pub fda: Option<PathBuf>,
    /// Floppy image in drive B.
    #[arg(long, value_name = "FILE")]
    pub fdb: Option<PathBuf>,
    /// Boot order: a (floppy), c (hard disk), d (CD-ROM), up to three,
    /// e.g. `dc`. [default: cad]
    #[arg(long, value_name = "ORDER", value_parser = parse_boot_order)]
    pub boot: Option<String>,
    /// A drive, as QEMU's -drive: file=PATH,if=ide|floppy,index=N,
    /// media=disk|cdrom,format=raw|qcow2,readonly=on|off,snapshot=on|off.
    /// Repeatable.
    #[arg(long, value_name = "SPEC", value_parser = parse_drive, action = ArgAction::Append)]
    pub drive: Vec<DriveSpec>,
    /// Write to temporary overlays: the images are left unchanged.
    #[arg(long)]
    pub snapshot: bool,
}

/// A drive's interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interface {
    Ide,
    Floppy,
}

/// What the drive is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Media {
    Disk,
    Cdrom,
}

/// One `--drive`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriveSpec {
    /// The image; `None` only for an empty CD-ROM drive.
    pub file: Option<PathBuf>,
    pub interface: Interface,
    pub index: Option<usize>,
    pub media: Media,
    pub format: Option<Format>,
    pub read_only: bool,
    /// `None`: as `--snapshot`.
    pub snapshot: Option<bool>,
}

/// An image in a slot, ready to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    pub file: Option<PathBuf>,
    pub media: Media,
    pub format: Option<Format>,
    pub read_only: bool,
    pub snapshot: bool,
}

/// Every slot filled from the command line, and the boot order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub ide: [Option<Slot>; 4],
    pub floppy: [Option<Slot>; 2],
    pub boot_order: String,
}

/// The opened drives, for [`ironpc::Config`], and the CMOS boot-order
/// bytes for [`ironpc::Board::set_cmos_boot_order`].
pub struct Drives {
    pub ide: [Option<IdeDrive>; 4],
    pub floppy: [Option<Box<dyn block::BlockDevice>>; 2],
    pub cmos_boot_order: (u8, u8),
}

/// QEMU's default boot order for `-M pc`.
const DEFAULT_BOOT_ORDER: &str = ironpc::bios::fw_cfg::DEFAULT_BOOT_ORDER;

impl DriveOptions {
    /// Places every drive in its slot; one line on a conflict.
    pub fn plan(&self) -> Result<Plan, String> {
        let mut plan = Plan { boot_order: self.boot.clone().unwrap_or_else(|| DEFAULT_BOOT_ORDER.into()), ..Plan::default() };
        let simple = |file: &PathBuf, media| Slot {
            file: Some(file.clone()),
            media,
            format: None,
            read_only: media == Media::Cdrom,
            snapshot: self.snapshot,
        };
        for (i, (name, file)) in
            [("--hda", &self.hda), ("--hdb", &self.hdb), ("--hdc", &self.hdc), ("--hdd", &self.hdd)].into_iter().enumerate()
        {
            if let Some(f) = file {
                place(&mut plan.ide, i, simple(f, Media::Disk), name)?;
            }
        }
        if let Some(f) = &self.cdrom {
            place(&mut plan.ide, 2, simple(f, Media::Cdrom), "--cdrom")?;
        }
        for (i, (name, file)) in [("--fda", &self.fda), ("--fdb", &self.fdb)].into_iter().enumerate() {
            if let Some(f) = file {
                place(&mut plan.floppy, i, simple(f, Media::Disk), name)?;
            }
        }
        for d in &self.drive {
            let slot = Slot {
                file: d.file.clone(),
                media: d.media,
                format: d.format,
                read_only: d.read_only || d.media == Media::Cdrom,
                snapshot: d.snapshot.unwrap_or(self.snapshot),
            };
            let slots: &mut [Option<Slot>] = match d.interface {
                Interface::Ide => &mut plan.ide,
                Interface::Floppy => &mut plan.floppy,
            };
            let index = match d.index {
                Some(i) => i,
                None => slots
                    .iter()
                    .position(Option::is_none)
                    .ok_or_else(|| format!("--drive {}: every {} slot is taken", describe(d), interface_name(d.interface)))?,
            };
            place(slots, index, slot, &format!("--drive {}", describe(d)))?;
        }
        Ok(plan)
    }

    /// Opens every image of [`DriveOptions::plan`].
    pub fn open(&self) -> Result<Drives, String> {
        let plan = self.plan()?;
        let cmos_boot_order = ironpc::bios::fw_cfg::cmos_boot_order(&plan.boot_order)
            .ok_or_else(|| format!("--boot {}: not a boot order", plan.boot_order))?;
        let mut drives = Drives { ide: Default::default(), floppy: Default::default(), cmos_boot_order };
        for (slot, s) in plan.ide.iter().enumerate() {
            let Some(s) = s else { continue };
            drives.ide[slot] = Some(match s.media {
                Media::Disk => IdeDrive::Disk(open_slot(s)?.ok_or("an IDE disk needs file=")?),
                Media::Cdrom => IdeDrive::Cdrom(open_slot(s)?),
            });
        }
        for (slot, s) in plan.floppy.iter().enumerate() {
            if let Some(s) = s {
                drives.floppy[slot] = Some(open_slot(s)?.ok_or("a floppy drive needs file=")?);
            }
        }
        Ok(drives)
    }
}

/// Opens a slot's image (none for an empty CD-ROM drive).
fn open_slot(s: &Slot) -> Result<Option<Box<dyn block::BlockDevice>>, String> {
    let Some(file) = &s.file else { return Ok(None) };
    let opts = OpenOptions { read_only: s.read_only, format: s.format, snapshot: s.snapshot };
    let what = match s.media {
        Media::Disk => "disk image",
        Media::Cdrom => "CD-ROM image",
    };
    block::open(file, &opts).map(Some).map_err(|e| format!("cannot open {what}: {e}"))
}

/// Puts `slot` at `index` of `slots`, refusing an index out of range or
/// taken.
fn place(slots: &mut [Option<Slot>], index: usize, slot: Slot, by: &str) -> Result<(), String> {
    let n = slots.len();
    let place = slots.get_mut(index).ok_or_else(|| format!("{by}: index {index} is out of range (0-{})", n - 1))?;
    if place.is_some() {
        return Err(format!("{by}: drive index {index} is already in use"));
    }
    *place = Some(slot);
    Ok(())
}

fn interface_name(i: Interface) -> &'static str {
    match i {
        Interface::Ide => "ide",
        Interface::Floppy => "floppy",
    }
}

/// A drive for messages: its file, or its interface.
fn describe(d: &DriveSpec) -> String {
    match &d.file {
        Some(f) => format!("file={}", f.display()),
        None => format!("if={}", interface_name(d.interface)),
    }
}

/// `--boot`: QEMU's letters, at most three, none twice.
fn parse_boot_order(s: &str) -> Result<String, String> {
    let order = s.strip_prefix("order=").unwrap_or(s);
    if order.is_empty() || order.len() > 3 {
        return Err(format!("`{s}` is not a boot order: one to three of a (floppy), c (disk), d (CD-ROM)"));
    }
    for (i, c) in order.char_indices() {
        if !matches!(c, 'a' | 'c' | 'd') {
            return Err(format!("`{c}` in `{s}` is no boot device: a (floppy), c (disk), d (CD-ROM)"));
        }
        if order[..i].contains(c) {
            return Err(format!("`{c}` appears twice in boot order `{s}`"));
        }
    }
    Ok(order.to_string())
}

/// Splits QEMU's option syntax at single commas (`,,` is a comma).
fn split_options(s: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ',' {
            if chars.peek() == Some(&',') {
                chars.next();
                if let Some(p) = parts.last_mut() {
                    p.push(',');
                }
            } else {
                parts.push(String::new());
            }
        } else if let Some(p) = parts.last_mut() {
            p.push(c);
        }
    }
    parts
}

fn on_off(key: &str, v: &str) -> Result<bool, String> {
    match v {
        "on" | "true" | "yes" => Ok(true),
        "off" | "false" | "no" => Ok(false),
        _ => Err(format!("{key}={v}: expected on or off")),
    }
}

/// `--drive`'s value.
fn parse_drive(s: &str) -> Result<DriveSpec, String> {
    let mut d = DriveSpec {
        file: None,
        interface: Interface::Ide,
        index: None,
        media: Media::Disk,
        format: None,
        read_only: false,
        snapshot: None,
    };
    let mut seen: Vec<String> = Vec::new();
    for part in split_options(s) {
        if part.is_empty() {
            continue;
        }
        let (key, value) = part.split_once('=').ok_or_else(|| format!("`{part}` is not key=value"))?;
        if seen.iter().any(|k| k == key) {
            return Err(format!("`{key}` is given twice"));
        }
        seen.push(key.to_string());
        match key {
            "file" if !value.is_empty() => d.file = Some(PathBuf::from(value)),
            "file" => return Err("file= is empty".into()),
            "if" => {
                d.interface = match value {
                    "ide" => Interface::Ide,
                    "floppy" => Interface::Floppy,
                    _ => return Err(format!("if={value}: available interfaces are ide and floppy")),
                }
            }
            "index" => d.index = Some(value.parse().map_err(|_| format!("index={value}: not a number"))?),
            "media" => {
                d.media = match value {
                    "disk" => Media::Disk,
                    "cdrom" => Media::Cdrom,
                    _ => return Err(format!("media={value}: expected disk or cdrom")),
                }
            }
            "format" => d.format = Some(value.parse()?),
            "readonly" => d.read_only = on_off(key, value)?,
            "snapshot" => d.snapshot = Some(on_off(key, value)?),
            _ => return Err(format!("unknown key `{key}` (known: file, if, index, media, format, readonly, snapshot)")),
        }
    }
    if d.interface == Interface::Floppy && d.media == Media::Cdrom {
        return Err("media=cdrom needs if=ide".into());
    }
    if d.file.is_none() && d.media != Media::Cdrom {
        return Err("file= is missing (only a CD-ROM drive may be empty)".into());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        drives: DriveOptions,
    }

    fn cli(args: &[&str]) -> Result<DriveOptions, String> {
        Cli::try_parse_from([&["ironpc"], args].concat()).map(|c| c.drives).map_err(|e| e.to_string())
    }

    fn plan(args: &[&str]) -> Result<Plan, String> {
        cli(args)?.plan()
    }

    fn file(s: &Option<Slot>) -> Option<&str> {
        s.as_ref().and_then(|s| s.file.as_ref()).and_then(|f| f.to_str())
    }

    #[test]
    fn qemu_shortcuts_fill_the_slots_qemu_gives_them() {
        let p = plan(&["--hda", "a.img", "--hdb", "b.img", "--cdrom", "c.iso", "--hdd", "d.img", "--fdb", "f.img"]).unwrap();
        assert_eq!(
            [file(&p.ide[0]), file(&p.ide[1]), file(&p.ide[2]), file(&p.ide[3])],
            [Some("a.img"), Some("b.img"), Some("c.iso"), Some("d.img")]
        );
        let cd = p.ide[2].as_ref().unwrap();
        assert_eq!((cd.media, cd.read_only), (Media::Cdrom, true), "a CD-ROM is read-only");
        let hd = p.ide[0].as_ref().unwrap();
        assert_eq!((hd.media, hd.read_only, hd.snapshot, hd.format), (Media::Disk, false, false, None));
        assert_eq!([file(&p.floppy[0]), file(&p.floppy[1])], [None, Some("f.img")]);
        assert_eq!(p.boot_order, "cad");
    }

    #[test]
    fn cdrom_and_hdc_share_the_secondary_master() {
        let e = plan(&["--hdc", "a.img", "--cdrom", "c.iso"]).unwrap_err();
        assert!(e.contains("--cdrom") && e.contains("index 2 is already in use"), "{e}");
        let e = plan(&["--hda", "a.img", "--drive", "file=b.img,index=0"]).unwrap_err();
        assert!(e.contains("already in use"), "{e}");
    }

    #[test]
    fn drive_takes_qemu_keys() {
        let p = plan(&[
            "--drive",
            "file=x.qcow2,if=ide,index=3,media=disk,format=qcow2,readonly=on",
            "--drive",
            "file=cd.iso,media=cdrom",
            "--drive",
            "if=floppy,file=fd.img,snapshot=on",
        ])
        .unwrap();
        let s = p.ide[3].as_ref().unwrap();
        assert_eq!((s.format, s.read_only, s.media), (Some(Format::Qcow2), true, Media::Disk));
        // Without index=, the first free slot.
        assert_eq!(file(&p.ide[0]), Some("cd.iso"));
        assert_eq!(p.ide[0].as_ref().unwrap().media, Media::Cdrom);
        let f = p.floppy[0].as_ref().unwrap();
        assert!(f.snapshot && !f.read_only);
    }

    #[test]
    fn double_commas_are_commas_in_the_path() {
        let d = parse_drive("file=a,,b.img,format=raw").unwrap();
        assert_eq!(d.file, Some(PathBuf::from("a,b.img")));
        assert_eq!(d.format, Some(Format::Raw));
    }

    #[test]
    fn bad_drive_specs_are_one_line_errors() {
        for (spec, needle) in [
            ("file=a.img,bus=1", "unknown key `bus`"),
            ("file=a.img,if=scsi", "if=scsi"),
            ("file=a.img,format=vmdk", "vmdk"),
            ("file=a.img,readonly=maybe", "on or off"),
            ("file=a.img,index=x", "not a number"),
            ("file=a.img,media=tape", "media=tape"),
            ("if=floppy,media=cdrom,file=a", "needs if=ide"),
            ("if=ide", "file= is missing"),
            ("file=a.img,file=b.img", "twice"),
            ("a.img", "key=value"),
        ] {
            let e = parse_drive(spec).unwrap_err();
            assert!(e.contains(needle), "{spec}: {e}");
            assert!(!e.contains('\n'), "{spec}: one line");
        }
        assert!(parse_drive("media=cdrom").unwrap().file.is_none(), "an empty CD-ROM drive");
        let e = plan(&["--drive", "file=a,index=4"]).unwrap_err();
        assert!(e.contains("out of range (0-3)"), "{e}");
        let e = plan(&["--drive", "file=a,if=floppy,index=2"]).unwrap_err();
        assert!(e.contains("out of range (0-1)"), "{e}");
        let five = ["--drive", "file=a"].repeat(5);
        assert!(plan(&five).unwrap_err().contains("every ide slot is taken"));
    }

    #[test]
    fn snapshot_applies_to_every_drive_unless_one_says_otherwise() {
        let p = plan(&["--snapshot", "--hda", "a", "--drive", "file=b,snapshot=off"]).unwrap();
        assert!(p.ide[0].as_ref().unwrap().snapshot);
        assert!(!p.ide[1].as_ref().unwrap().snapshot);
    }

    #[test]
    fn boot_orders_are_qemu_letters() {
        assert_eq!(parse_boot_order("dc").unwrap(), "dc");
        assert_eq!(parse_boot_order("order=d").unwrap(), "d");
        assert!(parse_boot_order("x").is_err());
        assert!(parse_boot_order("cc").unwrap_err().contains("twice"));
        assert!(parse_boot_order("acdc").is_err());
        assert!(parse_boot_order("").is_err());
        assert_eq!(plan(&["--boot", "d"]).unwrap().boot_order, "d");
        // d then c: CMOS 0x3D holds the first two (low nibble first), 0x38
        // the third in its high nibble (SeaBIOS src/boot.c, boot_init).
        assert_eq!(ironpc::bios::fw_cfg::cmos_boot_order("dc"), Some((0x23, 0x00)));
    }

    #[test]
    fn opening_reports_missing_and_read_only_files_in_one_line() {
        let dir = std::env::temp_dir().join(format!("ironpc-drives-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.img");
        let e = cli(&["--hda", missing.to_str().unwrap()]).unwrap().open().err().unwrap();
        assert!(e.starts_with("cannot open disk image") && e.contains("missing.img"), "{e}");
        let raw = dir.join("disk.img");
        std::fs::write(&raw, vec![0u8; 1 << 20]).unwrap();
        let d = cli(&["--hda", raw.to_str().unwrap(), "--boot", "dc"]).unwrap().open().unwrap();
        assert!(matches!(d.ide[0], Some(IdeDrive::Disk(_))));
        assert_eq!(d.cmos_boot_order, (0x23, 0x00));
        drop(d);
        // A corrupt qcow2: the magic and version 3, nothing else valid.
        let bad = dir.join("bad.qcow2");
        let mut header = vec![0u8; 4096];
        header[..8].copy_from_slice(&[b'Q', b'F', b'I', 0xFB, 0, 0, 0, 3]);
        header[20..24].copy_from_slice(&99u32.to_be_bytes()); // cluster_bits 99
        std::fs::write(&bad, header).unwrap();
        let e = cli(&["--hda", bad.to_str().unwrap()]).unwrap().open().err().unwrap();
        assert!(e.contains("bad.qcow2") && !e.contains('\n'), "{e}");
        // Two opens of one image: the second finds it locked.
        let first = cli(&["--hda", raw.to_str().unwrap()]).unwrap().open().unwrap();
        let e = cli(&["--hda", raw.to_str().unwrap()]).unwrap().open().err().unwrap();
        assert!(e.contains("locked"), "{e}");
        drop(first);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
