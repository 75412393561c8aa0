//! The one pyarrow of `cargo xtask ci`, in a venv under the target directory
//! (`<target>/xtask/pyarrow-venv`, from the pinned `xtask/pyarrow/requirements.txt`, reused while
//! the pins are unchanged). Two steps use it: the data service's Parquet backend is tested
//! against datasets that pyarrow itself writes (crates/tds/tests/tds/hive.py), whose tests get
//! its python with `TABLESHARE_TEST_REQUIRE_PYARROW=1` so they cannot quietly do without; and
//! the interop check reads `tableshare serve` with pyarrow.flight (`interop.rs`).

use std::path::{Path, PathBuf};

use anyhow::Result;

/// Installs pyarrow if needed; returns the venv's python.
pub(crate) fn python(root: &Path) -> Result<PathBuf> {
    crate::venv::ensure(
        &crate::s3::target_dir(root).join("xtask/pyarrow-venv"),
        &root.join("xtask/pyarrow/requirements.txt"),
        "pyarrow",
    )
}

/// Installs pyarrow if needed; returns the environment the test processes get.
pub(crate) fn test_env(root: &Path) -> Result<Vec<(&'static str, String)>> {
    Ok(vec![
        (
            "TABLESHARE_TEST_PYTHON",
            python(root)?.display().to_string(),
        ),
        ("TABLESHARE_TEST_REQUIRE_PYARROW", "1".to_owned()),
    ])
}
