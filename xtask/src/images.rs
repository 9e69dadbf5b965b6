//! `cargo xtask images`: the guest images the boot tests, demos and
//! benchmarks use, fetched from Debian packages into `target/images/`
//! without root, and the busybox initramfs built from them.
//!
//! apt is given a private view (its own lists and cache under
//! `target/images-work/apt`) with i386 as its only architecture, so the
//! i386 packages resolve on any host; `apt-get download` checks each .deb
//! against the signed index, and we check it again against the SHA256
//! `apt-cache show` reports before `dpkg-deb -x` unpacks it. `MANIFEST`
//! records package versions and the sha256 of every file; a re-run that
//! finds every file matching it does nothing.
//!
//! The initramfs is a newc cpio (the format of the kernel's
//! Documentation/driver-api/early-userspace/buffer-format.rst) written
//! here, gzipped with flate2: /bin/busybox, the applet links /init needs
//! before `busybox --install`, /dev/console, and the /init script.

use crate::cpio::Cpio;
use crate::guest;
use flate2::{write::GzEncoder, Compression};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A file taken from a package: candidate paths inside the package (the
/// first present wins), and its name in the cache.
struct Pick {
    from: &'static [&'static str],
    to: &'static str,
}

/// A package and the files it provides.
struct Package {
    /// The package name, or a metapackage whose first `linux-image-`
    /// dependency is the real, versioned package.
    name: &'static str,
    follow_dependency: bool,
    picks: &'static [Pick],
    /// The kernel package: also take [`guest::MODULES`] from its
    /// /lib/modules into `modules/`.
    modules: bool,
}

const PACKAGES: &[Package] = &[
    Package {
        name: "seabios",
        follow_dependency: false,
        picks: &[
            Pick { from: &["usr/share/seabios/bios.bin"], to: guest::BIOS },
            Pick { from: &["usr/share/seabios/vgabios-stdvga.bin"], to: guest::VGABIOS },
        ],
        modules: false,
    },
    Package {
        name: "linux-image-686",
        follow_dependency: true,
        picks: &[
            Pick { from: &["boot/vmlinuz-*"], to: guest::KERNEL },
            Pick { from: &["lib/modules/*/kernel/drivers/input/mouse/psmouse.ko"], to: guest::PSMOUSE },
        ],
        modules: true,
    },
    Package {
        name: "busybox-static",
        follow_dependency: false,
        picks: &[Pick { from: &["bin/busybox"], to: guest::BUSYBOX }],
        modules: false,
    },
    Package {
        name: "memtest86+",
        follow_dependency: false,
        // 6.x names its 32-bit Linux-boot-protocol image ia32.bin, 7.x
        // mt86+x32, 5.x memtest86+.bin.
        picks: &[Pick { from: &["boot/memtest86+ia32.bin", "boot/mt86+x32", "boot/memtest86+.bin"], to: guest::MEMTEST }],
        modules: false,
    },
    // Debian 12's netboot installer, text frontend (the graphical one
    // needs more RAM than the boot tests give).
    Package {
        name: "debian-installer-12-netboot-i386",
        follow_dependency: false,
        picks: &[
            Pick {
                from: &["usr/lib/debian-installer/images/12/i386/text/debian-installer/i386/linux"],
                to: guest::INSTALLER_KERNEL,
            },
            Pick {
                from: &["usr/lib/debian-installer/images/12/i386/text/debian-installer/i386/initrd.gz"],
                to: guest::INSTALLER_INITRD,
            },
        ],
        modules: false,
    },
];

/// The manifest's package column for the initramfs.
const BUILT: &str = "built-by-xtask";

pub fn run(args: &[String]) -> Result<(), String> {
    let mut force = false;
    for a in args {
        match a.as_str() {
            "--force" => force = true,
            other => return Err(format!("images: unknown option `{other}` (available: --force)")),
        }
    }
    let dir = images_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("images: cannot create {}: {e}", dir.display()))?;
    let mut manifest = if force { Manifest::default() } else { Manifest::read(&dir) };
    let fetched = if manifest.packages_in_place(&dir) {
        false
    } else {
        manifest = fetch(&dir)?;
        true
    };
    let busybox_version = manifest.version_of(guest::BUSYBOX).unwrap_or_default().to_string();
    let busybox = read(&dir.join(guest::BUSYBOX))?;
    let mut modules = Vec::new();
    for m in guest::MODULES {
        modules.push((m.to_string(), read(&dir.join(module_path(m)))?));
    }
    let initramfs = initramfs(&busybox, &modules)?;
    let sha = sha256_hex(&initramfs);
    let rebuilt = manifest.sha_of(guest::INITRAMFS) != Some(&sha) || !file_matches(&dir.join(guest::INITRAMFS), &sha);
    if rebuilt {
        write_atomically(&dir.join(guest::INITRAMFS), &initramfs)?;
        manifest.set(guest::INITRAMFS, &sha, BUILT, &format!("busybox-static={busybox_version}"));
        println!("images: {} built ({} bytes)", guest::INITRAMFS, initramfs.len());
    }
    let built = crate::disk_images::build(&dir, &mut manifest)?;
    if !fetched && !rebuilt && !built {
        println!(
            "images: all {} files in {} are in place and match MANIFEST; nothing to do",
            manifest.entries.len(),
            dir.display()
        );
        return Ok(());
    }
    manifest.write(&dir)?;
    print!("{}", manifest.render());
    println!("images: ready in {}", dir.display());
    Ok(())
}

/// The image cache (`target/images` under the workspace root).
pub fn images_dir() -> PathBuf {
    crate::workspace_root().join(guest::IMAGES_DIR)
}

/// Downloads, verifies and unpacks every package; copies the files into
/// `dir`. Returns the manifest of the package files.
fn fetch(dir: &Path) -> Result<Manifest, String> {
    for tool in ["apt-get", "apt-cache", "dpkg-deb"] {
        if Command::new(tool).arg("--version").output().is_err() {
            return Err(format!("images: `{tool}` not found: a Debian or Ubuntu host is needed (scripts/setup-debian.sh)"));
        }
    }
    let work = crate::workspace_root().join("target/images-work");
    let apt = Apt::new(&work.join("apt"))?;
    apt.update()?;
    let debs = work.join("debs");
    let _ = std::fs::remove_dir_all(&debs);
    mkdir(&debs)?;
    let mut manifest = Manifest::default();
    for p in PACKAGES {
        let name = if p.follow_dependency { apt.linux_image_dependency(p.name)? } else { p.name.to_string() };
        let info = apt.show(&name)?;
        let deb = apt.download(&name, &debs)?;
        verify_deb(&deb, &name, &info)?;
        let root = work.join("root").join(&name);
        let _ = std::fs::remove_dir_all(&root);
        mkdir(&root)?;
        run_tool(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root), "dpkg-deb -x")?;
        for pick in p.picks {
            let src = find_in(&root, pick.from)
                .ok_or_else(|| format!("images: package {name} {} has none of {}", info.version, pick.from.join(", ")))?;
            let bytes = read(&src)?;
            if [guest::KERNEL, guest::MEMTEST, guest::INSTALLER_KERNEL].contains(&pick.to) && boot_protocol(&bytes).is_none() {
                return Err(format!("images: {} from {name} is not a Linux boot protocol image", src.display()));
            }
            write_atomically(&dir.join(pick.to), &bytes)?;
            manifest.set(pick.to, &sha256_hex(&bytes), &name, &info.version);
        }
        if p.modules {
            mkdir(&dir.join(guest::MODULES_DIR))?;
            for m in guest::MODULES {
                let src = find_module(&root.join("lib/modules"), &format!("{m}.ko"))
                    .ok_or_else(|| format!("images: package {name} {} has no module {m}.ko", info.version))?;
                let bytes = read(&src)?;
                write_atomically(&dir.join(module_path(m)), &bytes)?;
                manifest.set(&module_path(m), &sha256_hex(&bytes), &name, &info.version);
            }
        }
        println!("images: {name} {} verified and unpacked", info.version);
    }
    let _ = std::fs::remove_dir_all(work.join("root"));
    let _ = std::fs::remove_dir_all(&debs);
    Ok(manifest)
}

/// A module's place in the image cache (and in the initramfs).
pub fn module_path(module: &str) -> String {
    format!("{}/{module}.ko", guest::MODULES_DIR)
}

/// The file `name` anywhere under `dir` (a kernel's /lib/modules tree).
fn find_module(dir: &Path, name: &str) -> Option<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).ok()?.flatten().map(|e| e.path()).collect();
    entries.sort();
    entries
        .iter()
        .find(|p| p.is_file() && p.file_name().is_some_and(|f| f == name))
        .cloned()
        .or_else(|| entries.iter().filter(|p| p.is_dir()).find_map(|d| find_module(d, name)))
}

/// What apt's index says about a package.
struct PackageInfo {
    version: String,
    sha256: String,
}

/// A private apt view of the i386 architecture.
struct Apt {
    options: Vec<String>,
    lists: PathBuf,
}

impl Apt {
    fn new(root: &Path) -> Result<Self, String> {
        let (lists, cache) = (root.join("lists"), root.join("cache"));
        mkdir(&lists.join("partial"))?;
        mkdir(&cache.join("archives/partial"))?;
        let options = vec![
            "-oAPT::Architecture=i386".to_string(),
            "-oAPT::Architectures=i386".to_string(),
            format!("-oDir::State::Lists={}", lists.display()),
            format!("-oDir::Cache={}", cache.display()),
            // As root apt downloads as the `_apt` user, who cannot write
            // into target/; as another user it never switches.
            "-oAPT::Sandbox::User=root".to_string(),
            "-qq".to_string(),
        ];
        Ok(Self { options, lists })
    }

    fn command(&self, tool: &str) -> Command {
        let mut c = Command::new(tool);
        c.args(&self.options);
        c
    }

    /// `apt-get update`. It fails when any one index fails; the main
    /// index is all we need, so only its absence is an error.
    fn update(&self) -> Result<(), String> {
        let out = self.command("apt-get").arg("update").output().map_err(|e| format!("images: cannot run apt-get: {e}"))?;
        let have_index = std::fs::read_dir(&self.lists)
            .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().contains("i386_Packages")))
            .unwrap_or(false);
        if have_index {
            Ok(())
        } else {
            Err(format!("images: apt-get update found no i386 package index: {}", last_line(&out.stderr)))
        }
    }

    /// The real package behind a kernel metapackage.
    fn linux_image_dependency(&self, meta: &str) -> Result<String, String> {
        let out = capture(self.command("apt-cache").args(["depends", meta]), "apt-cache depends")?;
        out.lines()
            .filter_map(|l| l.trim().strip_prefix("Depends:"))
            .map(str::trim)
            .find(|d| d.starts_with("linux-image-"))
            .map(str::to_string)
            .ok_or_else(|| format!("images: {meta} depends on no linux-image package"))
    }

    fn show(&self, name: &str) -> Result<PackageInfo, String> {
        let out = capture(self.command("apt-cache").args(["show", "--no-all-versions", name]), "apt-cache show")?;
        let field = |f: &str| out.lines().find_map(|l| l.strip_prefix(f)).map(|v| v.trim().to_string());
        match (field("Version:"), field("SHA256:")) {
            (Some(version), Some(sha256)) => Ok(PackageInfo { version, sha256 }),
            _ => Err(format!("images: no i386 package {name} in the index")),
        }
    }

    /// Downloads one package into `dir`; returns the .deb's path.
    fn download(&self, name: &str, dir: &Path) -> Result<PathBuf, String> {
        run_tool(self.command("apt-get").args(["download", name]).current_dir(dir), "apt-get download")?;
        let prefix = format!("{name}_");
        std::fs::read_dir(dir)
            .map_err(|e| format!("images: cannot list {}: {e}", dir.display()))?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                let f = p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
                f.starts_with(&prefix) && f.ends_with(".deb")
            })
            .ok_or_else(|| format!("images: apt-get download {name} left no .deb"))
    }
}

/// The .deb's sha256 is the index's, and dpkg-deb reads it as that package.
fn verify_deb(deb: &Path, name: &str, info: &PackageInfo) -> Result<(), String> {
    let sha = sha256_hex(&read(deb)?);
    if sha != info.sha256 {
        return Err(format!("images: {} has sha256 {sha}, the index says {}", deb.display(), info.sha256));
    }
    let fields = capture(Command::new("dpkg-deb").arg("-f").arg(deb).args(["Package", "Version"]), "dpkg-deb -f")?;
    let expected = format!("Package: {name}\nVersion: {}", info.version);
    if fields.trim() != expected {
        return Err(format!("images: {} is `{}`, expected `{expected}`", deb.display(), fields.trim()));
    }
    run_tool(Command::new("dpkg-deb").arg("-I").arg(deb), "dpkg-deb -I").map(|_| ())
}

/// The first pattern that names a file under `root`: a pattern's path
/// components are names, or prefixes ending in `*` (the last match in
/// name order wins, the newest version).
fn find_in(root: &Path, patterns: &[&str]) -> Option<PathBuf> {
    patterns.iter().find_map(|pattern| glob(root, &pattern.split('/').collect::<Vec<_>>()))
}

fn glob(dir: &Path, components: &[&str]) -> Option<PathBuf> {
    let (first, rest) = components.split_first()?;
    let candidates = match first.strip_suffix('*') {
        None => vec![dir.join(first)],
        Some(prefix) => {
            let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
                .ok()?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.file_name().is_some_and(|f| f.to_string_lossy().starts_with(prefix)))
                .collect();
            found.sort();
            found
        }
    };
    candidates.into_iter().rev().find_map(|p| if rest.is_empty() { Some(p).filter(|p| p.is_file()) } else { glob(&p, rest) })
}

/// The boot protocol version of a bzImage-style image: the setup header's
/// "HdrS" signature at 0x202 and its version at 0x206 (the kernel's
/// Documentation/arch/x86/boot.rst, "The real-mode kernel header").
fn boot_protocol(image: &[u8]) -> Option<u16> {
    let header = image.get(0x202..0x208)?;
    (&header[..4] == b"HdrS").then(|| u16::from_le_bytes([header[4], header[5]]))
}

/// `MANIFEST`: file name to (sha256, package, version).
#[derive(Default)]
pub struct Manifest {
    entries: BTreeMap<String, (String, String, String)>,
}

impl Manifest {
    fn read(dir: &Path) -> Self {
        let text = std::fs::read_to_string(dir.join(guest::MANIFEST)).unwrap_or_default();
        let entries = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                match f[..] {
                    [file, sha, package, version] => {
                        Some((file.to_string(), (sha.to_string(), package.to_string(), version.to_string())))
                    }
                    _ => None,
                }
            })
            .collect();
        Self { entries }
    }

    /// Every file a package provides is listed and matches its sha256.
    fn packages_in_place(&self, dir: &Path) -> bool {
        let in_place = |file: &str| self.sha_of(file).is_some_and(|sha| file_matches(&dir.join(file), sha));
        PACKAGES.iter().flat_map(|p| p.picks).all(|pick| in_place(pick.to))
            && guest::MODULES.iter().all(|m| in_place(&module_path(m)))
    }

    pub fn sha_of(&self, file: &str) -> Option<&String> {
        self.entries.get(file).map(|e| &e.0)
    }

    fn version_of(&self, file: &str) -> Option<&str> {
        self.entries.get(file).map(|e| e.2.as_str())
    }

    pub fn version_or_empty(&self, file: &str) -> &str {
        self.entries.get(file).map(|e| e.2.as_str()).unwrap_or("")
    }

    pub fn set(&mut self, file: &str, sha: &str, package: &str, version: &str) {
        self.entries.insert(file.to_string(), (sha.to_string(), package.to_string(), version.to_string()));
    }

    fn render(&self) -> String {
        let mut s = String::from("# FILE SHA256 PACKAGE VERSION (written by cargo xtask images)\n");
        for (file, (sha, package, version)) in &self.entries {
            s.push_str(&format!("{file} {sha} {package} {version}\n"));
        }
        s
    }

    fn write(&self, dir: &Path) -> Result<(), String> {
        write_atomically(&dir.join(guest::MANIFEST), self.render().as_bytes())
    }
}

/// The /init script. It runs as PID 1 under busybox's ash.
fn init_script() -> String {
    format!(
        r#"#!/bin/sh
# ironpc's initramfs init, written by `cargo xtask images`.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s
# With an IDE controller (PCI class 0101), the disk, CD and FAT/ISO 9660
# drivers, which Debian's kernel has as modules.
if grep -qs '^0x0101' /sys/bus/pci/devices/*/class; then
    for m in {modules}; do
        insmod /{modules_dir}/$m.ko
    done
fi
echo "{marker}"
# The kernel passes an unknown name=value parameter to init's environment.
if [ -n "${run}" ]; then
    cmd="${run}"
    unset {run}
    eval "$cmd"
fi
export PS1='{prompt}'
# A session with the console as its controlling terminal, so job control
# and Ctrl-C work; a new shell whenever one exits.
while true; do
    setsid cttyhack sh
done
"#,
        marker = guest::MARKER,
        run = guest::RUN_PARAM,
        prompt = guest::PROMPT,
        modules = guest::MODULES.join(" "),
        modules_dir = guest::MODULES_DIR,
    )
}

/// The applets /init uses before `busybox --install -s` links the rest.
const EARLY_APPLETS: &[&str] = &["sh", "mount"];

/// The gzipped initramfs around `busybox`, with the kernel `modules`
/// (name without `.ko`, contents) in /modules.
pub fn initramfs(busybox: &[u8], modules: &[(String, Vec<u8>)]) -> Result<Vec<u8>, String> {
    let mut cpio = Cpio::default();
    for d in ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp", "root", "etc", "mnt"] {
        cpio.dir(d);
    }
    // The kernel opens /dev/console for init's stdio before /init runs.
    cpio.char_device("dev/console", 0o600, 5, 1);
    cpio.file("bin/busybox", 0o755, busybox);
    for applet in EARLY_APPLETS {
        cpio.symlink(&format!("bin/{applet}"), "busybox");
    }
    if !modules.is_empty() {
        cpio.dir(guest::MODULES_DIR);
    }
    for (name, data) in modules {
        cpio.file(&module_path(name), 0o644, data);
    }
    cpio.file("init", 0o755, init_script().as_bytes());
    let archive = cpio.finish();
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(&archive).map_err(|e| format!("images: gzip: {e}"))?;
    gz.finish().map_err(|e| format!("images: gzip: {e}"))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

pub fn file_matches(path: &Path, sha: &str) -> bool {
    std::fs::read(path).is_ok_and(|b| sha256_hex(&b) == sha)
}

pub fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("images: cannot read {}: {e}", path.display()))
}

pub fn mkdir(path: &Path) -> Result<(), String> {
    std::fs::create_dir_all(path).map_err(|e| format!("images: cannot create {}: {e}", path.display()))
}

/// Writes through a temporary file so an interrupted run leaves no
/// half-written image behind.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("images: cannot write {}: {e}", path.display()))
}

fn last_line(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr).lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message").trim().to_string()
}

/// Runs a tool; its failure becomes one line with the tool's last message.
pub fn run_tool(cmd: &mut Command, what: &str) -> Result<std::process::Output, String> {
    let out = cmd.output().map_err(|e| format!("images: cannot run {what}: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!("images: {what} failed: {}", last_line(&out.stderr)))
    }
}

fn capture(cmd: &mut Command, what: &str) -> Result<String, String> {
    run_tool(cmd, what).map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_in_matches_prefixes_in_any_component_newest_last() {
        let root = std::env::temp_dir().join(format!("ironpc-find-in-{}", std::process::id()));
        for (dir, file) in
            [("boot", "vmlinuz-6.1.0-1"), ("boot", "vmlinuz-6.1.0-2"), ("lib/modules/6.1.0-2/kernel", "psmouse.ko")]
        {
            std::fs::create_dir_all(root.join(dir)).unwrap();
            std::fs::write(root.join(dir).join(file), b"x").unwrap();
        }
        std::fs::create_dir_all(root.join("lib/modules/6.1.0-3/kernel")).unwrap();
        let found = |p: &[&str]| find_in(&root, p).map(|f| f.strip_prefix(&root).unwrap().to_string_lossy().into_owned());
        assert_eq!(found(&["boot/vmlinuz-*"]).as_deref(), Some("boot/vmlinuz-6.1.0-2"));
        assert_eq!(found(&["lib/modules/*/kernel/psmouse.ko"]).as_deref(), Some("lib/modules/6.1.0-2/kernel/psmouse.ko"));
        assert_eq!(found(&["boot/nothing", "boot/vmlinuz-6.1.0-1"]).as_deref(), Some("boot/vmlinuz-6.1.0-1"));
        assert_eq!(found(&["lib/*/psmouse.ko"]), None);
        let _ = std::fs::remove_dir_all(&root);
    }

    /// An archive entry: name, mode, (rdevmajor, rdevminor), data.
    type Entry = (String, u32, (u32, u32), Vec<u8>);

    /// Entries of a newc archive, read by the format's rules (header,
    /// NUL-terminated name, both padded to 4).
    fn parse(mut a: &[u8]) -> Vec<Entry> {
        let mut v = Vec::new();
        let mut offset = 0;
        loop {
            assert_eq!(&a[..6], b"070701", "magic at offset {offset}");
            let field = |i: usize| u32::from_str_radix(std::str::from_utf8(&a[6 + 8 * i..14 + 8 * i]).unwrap(), 16).unwrap();
            let (mode, size, rdev, namesize) = (field(1), field(6) as usize, (field(9), field(10)), field(11) as usize);
            let name = String::from_utf8(a[110..110 + namesize - 1].to_vec()).unwrap();
            assert_eq!(a[110 + namesize - 1], 0);
            let data_at = (110 + namesize).next_multiple_of(4);
            let data = a[data_at..data_at + size].to_vec();
            let next = (data_at + size).next_multiple_of(4);
            if name == crate::cpio::TRAILER {
                assert_eq!(next, a.len(), "the trailer ends the archive");
                return v;
            }
            v.push((name, mode, rdev, data));
            a = &a[next..];
            offset += next;
        }
    }

    #[test]
    fn newc_entries_read_back_with_modes_links_and_device_numbers() {
        let mut c = Cpio::default();
        c.dir("bin");
        c.file("bin/busybox", 0o755, b"12345");
        c.symlink("bin/sh", "busybox");
        c.char_device("dev/console", 0o600, 5, 1);
        let entries = parse(&c.finish());
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[0], ("bin".to_string(), 0o040755, (0, 0), vec![]));
        assert_eq!(entries[1], ("bin/busybox".to_string(), 0o100755, (0, 0), b"12345".to_vec()));
        assert_eq!(entries[2], ("bin/sh".to_string(), 0o120777, (0, 0), b"busybox".to_vec()));
        assert_eq!(entries[3], ("dev/console".to_string(), 0o020600, (5, 1), vec![]));
    }

    #[test]
    fn header_is_110_bytes_of_ascii_hex() {
        let mut c = Cpio::default();
        c.file("a", 0o644, b"");
        let a = c.finish();
        // "070701", 13 fields of 8 hex digits, then the name "a\0" padded
        // from 112 to 112: the next header starts at 112.
        assert_eq!(&a[112..118], b"070701");
        assert_eq!(&a[6 + 8 * 11..6 + 8 * 12], b"00000002", "namesize counts the NUL");
    }

    #[test]
    fn initramfs_is_deterministic_and_holds_init_busybox_and_console() {
        let modules = [("libata".to_string(), b"ELF".to_vec())];
        let a = initramfs(b"busybox", &modules).unwrap();
        assert_eq!(a, initramfs(b"busybox", &modules).unwrap());
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&a[..]), &mut raw).unwrap();
        let entries = parse(&raw);
        let get = |n: &str| entries.iter().find(|e| e.0 == n).unwrap_or_else(|| panic!("{n} missing"));
        assert_eq!(get("bin/busybox").3, b"busybox");
        assert_eq!(get("modules/libata.ko").3, b"ELF");
        assert_eq!(get("dev/console").2, (5, 1));
        assert_eq!(get("bin/sh").3, b"busybox");
        let init = String::from_utf8(get("init").3.clone()).unwrap();
        assert!(init.starts_with("#!/bin/sh\n"));
        assert!(init.contains(guest::MARKER));
        assert_eq!(get("init").1, 0o100755);
    }

    #[test]
    fn host_cpio_lists_the_archive() {
        let mut c = Cpio::default();
        c.dir("bin");
        c.file("bin/busybox", 0o755, b"x");
        c.symlink("bin/sh", "busybox");
        let path = std::env::temp_dir().join(format!("ironpc-cpio-test-{}.cpio", std::process::id()));
        std::fs::write(&path, c.finish()).unwrap();
        let out = Command::new("cpio").args(["-itv", "--quiet", "-F"]).arg(&path).output();
        let _ = std::fs::remove_file(&path);
        let Ok(out) = out else { return }; // no cpio on this host
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(listing.contains("bin/sh -> busybox"), "{listing}");
        assert!(listing.contains("-rwxr-xr-x"), "{listing}");
    }

    #[test]
    fn boot_protocol_reads_the_setup_header() {
        let mut image = vec![0u8; 0x400];
        assert_eq!(boot_protocol(&image), None);
        image[0x202..0x206].copy_from_slice(b"HdrS");
        image[0x206..0x208].copy_from_slice(&0x020Fu16.to_le_bytes());
        assert_eq!(boot_protocol(&image), Some(0x020F));
        assert_eq!(boot_protocol(&image[..0x207]), None, "a truncated header");
    }

    #[test]
    fn manifest_round_trips() {
        let mut m = Manifest::default();
        m.set("bios.bin", "ab", "seabios", "1.16.2-1");
        m.set(guest::INITRAMFS, "cd", BUILT, "busybox-static=1:1.35");
        let dir = std::env::temp_dir().join(format!("ironpc-manifest-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        m.write(&dir).unwrap();
        let back = Manifest::read(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(back.entries, m.entries);
    }
}
