//! Recovery keys in and out: read from the terminal without echo or from a line of stdin (never
//! argv or the environment, where `ps` and /proc would show them); handed to the user once, on
//! a terminal or in a new 0600 file.

use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{Error, Result};

/// Where a recovery key comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// The next line of standard input (after the password line, if that came from stdin too).
    Stdin,
    /// A prompt on the terminal, without echo.
    Prompt,
}

/// Reads a recovery key. Whitespace inside the key is kept (matrix-sdk accepts the key as Element
/// prints it, in groups of four); only the line end is cut.
///
/// Errors: [`Error::Usage`] for an empty key or no terminal to prompt on.
pub fn read(source: KeySource) -> Result<String> {
    let key = match source {
        KeySource::Stdin => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| Error::other("cannot read the recovery key from stdin", e))?;
            line.trim().to_owned()
        }
        KeySource::Prompt => {
            if !std::io::stdin().is_terminal() {
                return Err(Error::Usage(
                    "no terminal to ask for the recovery key on; pipe it in with --recovery-key-stdin"
                        .into(),
                ));
            }
            rpassword::prompt_password("Recovery key: ")
                .map_err(|e| Error::other("cannot read the recovery key from the terminal", e))?
                .trim()
                .to_owned()
        }
    };
    if key.is_empty() {
        return Err(Error::Usage("the recovery key is empty".into()));
    }
    Ok(key)
}

/// Checks before anything is created that a new recovery key could be saved at `path`: the file
/// must not exist yet (a key is never overwritten) and its directory must exist.
pub fn check_new_file(path: &Path) -> Result<()> {
    if path.exists() {
        return Err(Error::Usage(format!(
            "{} already exists; mxcall never overwrites a recovery key file",
            path.display()
        )));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(Error::Usage(format!(
            "cannot save the recovery key: {} is not a directory",
            dir.display()
        )));
    }
    Ok(())
}

/// Writes a new recovery key to a new file, mode 0600 (created, never overwritten).
pub fn save(path: &Path, key: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::other(&format!("cannot create {}", path.display()), e))?;
    writeln!(f, "{key}")
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::other(&format!("cannot write {}", path.display()), e))
}

/// Why a user should keep the key: said wherever the key is handed out.
pub const WHY: &str = "Keep it safe: it is what makes a new device of this account (mxcall or \
Element) trusted — `mxcall login --recovery-key-stdin` or `mxcall verify --recovery-key` — and it \
restores the encrypted-message backup.";

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn saves_a_new_private_file_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.txt");
        check_new_file(&path).unwrap();
        save(&path, "EsTa bcde").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "EsTa bcde\n");
        assert!(matches!(check_new_file(&path), Err(Error::Usage(_))));
        assert!(save(&path, "other").is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "EsTa bcde\n");
    }

    #[test]
    fn a_file_in_a_missing_directory_is_refused_up_front() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope/key.txt");
        assert!(matches!(check_new_file(&path), Err(Error::Usage(_))));
    }
}
