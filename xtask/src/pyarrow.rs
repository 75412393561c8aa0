//! pyarrow for the test step of `cargo xtask ci`: the data service's Parquet backend is tested
//! against datasets that pyarrow itself writes (crates/tds/tests/tds/hive.py). The test command
//! installs it (a venv under the target directory, `<target>/xtask/pyarrow-venv`, from the
//! pinned `xtask/tds/requirements.txt`, reused while the pins are unchanged) and hands the tests
//! its python with `TABLESHARE_TEST_REQUIRE_PYARROW=1`, so a test cannot quietly do without.

use std::path::{Path, PathBuf};

use anyhow::Result;

/// Installs pyarrow if needed; returns the environment the test processes get.
pub(crate) fn test_env(root: &Path) -> Result<Vec<(&'static str, String)>> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let python = crate::venv::ensure(
        &target.join("xtask/pyarrow-venv"),
        &root.join("xtask/tds/requirements.txt"),
        "pyarrow",
    )?;
    Ok(vec![
        ("TABLESHARE_TEST_PYTHON", python.display().to_string()),
        ("TABLESHARE_TEST_REQUIRE_PYARROW", "1".to_owned()),
    ])
}
