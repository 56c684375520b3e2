//! The quick start as a user runs it: the interface crate of guide page 1 and the plugin of
//! page 2, each made of the page's own manifest and code, beside a checkout of xplug, build
//! with cargo as written, and the plugin's header says what it is.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The fenced block after `<!-- quick start: WHAT -->` in `page`.
fn block(page: &str, what: &str) -> String {
    let marker = format!("<!-- quick start: {what} -->");
    let after = page
        .split_once(&marker)
        .unwrap_or_else(|| panic!("no `{marker}` in the page"))
        .1;
    let mut lines = after.lines().skip_while(|l| l.trim().is_empty());
    let fence = lines.next().expect("a fenced block after the marker");
    assert!(fence.starts_with("```"), "`{fence}` opens no block");
    lines
        .take_while(|l| !l.starts_with("```"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// A rustdoc block as a crate's source: without its hidden lines (`# ...`).
fn without_hidden_lines(code: &str) -> String {
    code.lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t == "#" || t.starts_with("# "))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

#[test]
fn the_quick_start_manifests_build_as_written() {
    let repo = xtask::repo_root();
    let guide = |page: &str| fs::read_to_string(repo.join("docs/guide").join(page)).unwrap();
    let (interfaces, plugins) = (guide("1-interfaces.md"), guide("2-plugins.md"));

    // Outside the repository, as a user's crates are: no workspace above them.
    let work: PathBuf =
        std::env::temp_dir().join(format!("xplug-quick-start-{}", std::process::id()));
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).unwrap();
    // The checkout of xplug the manifests name, beside the crates.
    #[cfg(unix)]
    std::os::unix::fs::symlink(&repo, work.join("xplug")).unwrap();
    #[cfg(windows)]
    std::os::windows::fs::symlink_dir(&repo, work.join("xplug")).unwrap();

    write(
        &work.join("greeter-interface/Cargo.toml"),
        &block(&interfaces, "interface manifest"),
    );
    write(
        &work.join("greeter-interface/src/lib.rs"),
        &without_hidden_lines(&block(&interfaces, "interface lib.rs")),
    );
    write(
        &work.join("my-greeter/Cargo.toml"),
        &block(&plugins, "plugin manifest"),
    );
    // The page says to import the trait; its doctest declares it in hidden lines instead.
    write(
        &work.join("my-greeter/src/lib.rs"),
        &format!(
            "use greeter_interface::Greeter;\n{}",
            without_hidden_lines(&block(&plugins, "plugin lib.rs"))
        ),
    );

    // Built into the tests' own target directory: dependencies build once across runs.
    let target = xtask::target_dir().join("xplug-quick-start");
    let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .arg("build")
        .arg("--manifest-path")
        .arg(work.join("my-greeter/Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run cargo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the quick start does not build:\n{stderr}"
    );
    assert!(!stderr.contains("warning"), "{stderr}");

    let file = target
        .join("debug")
        .join(xplug_loader::tools::library_file_name("my_greeter"));
    let inspected = match xplug_loader::tools::inspect(&file) {
        Ok(inspected) => inspected,
        Err(e) => panic!("{}", e.report()),
    };
    assert_eq!(inspected.info.name, "my-greeter");
    assert_eq!(inspected.info.interface_name, "greeter");
    assert_eq!(inspected.info.interface_version.to_string(), "1.1.0");
    let _ = fs::remove_dir_all(&work);
}
