//! How a command's failure becomes an exit code: the CLI contract's 1 (the operation failed or
//! was refused) versus 2 (bad usage or bad input, nothing changed). Commands decide which by the
//! constructor they use; the message keeps the whole error chain.

use std::fmt;

/// A failed command: its exit code and the error to print on stderr.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Bad usage or bad input (invalid URI, name, schema, file contents): exit 2.
    BadInput(anyhow::Error),
    /// The operation failed or was refused: exit 1.
    Failed(anyhow::Error),
}

impl Failure {
    /// The process exit code for this failure.
    pub(crate) fn code(&self) -> u8 {
        match self {
            Failure::BadInput(_) => 2,
            Failure::Failed(_) => 1,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (Failure::BadInput(err) | Failure::Failed(err)) = self;
        write!(f, "{err:#}")
    }
}

/// The result type of every command.
pub(crate) type CmdResult = Result<(), Failure>;
