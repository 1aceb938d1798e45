//! Questions to the person at the terminal: confirmations and passphrases without echo.
//!
//! Nothing is asked when stdin is not a terminal (DESIGN §6.1): the command fails instead,
//! naming the flag that answers the question in a script. The questions go to stderr (or the
//! terminal itself), never to stdout, so `--json` output stays one clean document.

use std::io::{self, BufRead, IsTerminal, Write};

use zeroize::Zeroizing;

use crate::error::Error;

/// Where questions are asked and answered; the terminal in `plog`, a script in tests.
pub(crate) trait Prompter {
    /// Whether a person can be asked at all.
    fn interactive(&self) -> bool;
    /// Asks for a secret without echoing it.
    fn secret(&mut self, prompt: &str) -> io::Result<Zeroizing<String>>;
    /// Asks a question and returns the line typed in answer.
    fn line(&mut self, prompt: &str) -> io::Result<String>;
}

/// The real terminal: prompts on stderr (secrets on the controlling terminal), answers from
/// stdin.
#[derive(Debug, Default)]
pub(crate) struct Terminal;

impl Prompter for Terminal {
    fn interactive(&self) -> bool {
        io::stdin().is_terminal()
    }

    fn secret(&mut self, prompt: &str) -> io::Result<Zeroizing<String>> {
        rpassword::prompt_password(prompt).map(Zeroizing::new)
    }

    fn line(&mut self, prompt: &str) -> io::Result<String> {
        let mut stderr = io::stderr().lock();
        stderr.write_all(prompt.as_bytes())?;
        stderr.flush()?;
        let mut answer = String::new();
        io::stdin().lock().read_line(&mut answer)?;
        Ok(answer)
    }
}

/// Asks `question` (one line, without the `[y/N]`) unless `--yes` answered it already.
///
/// # Errors
///
/// [`Error::Usage`] naming `--yes` (and `alternative`, another flag that answers the question,
/// if given) when stdin is not a terminal; [`Error::Declined`] unless the answer is yes.
pub(crate) fn confirm(
    prompter: &mut dyn Prompter,
    yes: bool,
    question: &str,
    alternative: Option<&str>,
) -> Result<(), Error> {
    if yes {
        return Ok(());
    }
    if !prompter.interactive() {
        let flags = match alternative {
            Some(flag) => format!("{flag} or --yes"),
            None => "--yes".to_owned(),
        };
        return Err(Error::Usage(format!(
            "{question} stdin is not a terminal, so nothing can be asked: pass {flags} to \
             answer in a script"
        )));
    }
    let answer = prompter
        .line(&format!("{question} [y/N] "))
        .map_err(|err| Error::io("reading the answer", err))?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(Error::Declined)
    }
}

#[cfg(test)]
pub(crate) mod scripted {
    //! A [`Prompter`] that answers from a script, for tests.

    use std::collections::VecDeque;
    use std::io;

    use zeroize::Zeroizing;

    use super::Prompter;

    /// Answers questions in order; records the prompts.
    #[derive(Debug, Default)]
    pub(crate) struct Scripted {
        pub(crate) interactive: bool,
        pub(crate) answers: VecDeque<String>,
        pub(crate) prompts: Vec<String>,
    }

    impl Scripted {
        pub(crate) fn answering(answers: &[&str]) -> Self {
            Self {
                interactive: true,
                answers: answers.iter().map(|a| (*a).to_owned()).collect(),
                prompts: Vec::new(),
            }
        }

        pub(crate) fn no_terminal() -> Self {
            Self::default()
        }

        fn next(&mut self, prompt: &str) -> io::Result<String> {
            self.prompts.push(prompt.to_owned());
            self.answers
                .pop_front()
                .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))
        }
    }

    impl Prompter for Scripted {
        fn interactive(&self) -> bool {
            self.interactive
        }

        fn secret(&mut self, prompt: &str) -> io::Result<Zeroizing<String>> {
            self.next(prompt).map(Zeroizing::new)
        }

        fn line(&mut self, prompt: &str) -> io::Result<String> {
            self.next(prompt)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::scripted::Scripted;
    use super::*;

    #[test]
    fn yes_answers_without_asking() {
        let mut prompter = Scripted::no_terminal();
        assert!(confirm(&mut prompter, true, "Delete?", None).is_ok());
        assert!(prompter.prompts.is_empty());
    }

    #[test]
    fn without_a_terminal_the_error_names_the_flags() {
        let mut prompter = Scripted::no_terminal();
        let err = confirm(
            &mut prompter,
            false,
            "Trust this pin?",
            Some("--fingerprint"),
        )
        .err()
        .map(|e| (e.exit_code(), e.to_string()));
        let (code, text) = err.expect("must fail");
        assert_eq!(code, 2);
        assert!(text.contains("--fingerprint or --yes"), "{text}");
        assert!(prompter.prompts.is_empty());
    }

    #[test]
    fn only_yes_confirms() {
        for (answer, confirmed) in [
            ("y\n", true),
            ("YES\n", true),
            (" yes \n", true),
            ("\n", false),
            ("n\n", false),
            ("yess\n", false),
        ] {
            let mut prompter = Scripted::answering(&[answer]);
            let result = confirm(&mut prompter, false, "Move?", None);
            assert_eq!(result.is_ok(), confirmed, "{answer:?}");
            if !confirmed {
                assert!(matches!(result, Err(Error::Declined)));
            }
            assert_eq!(prompter.prompts, ["Move? [y/N] "]);
        }
    }
}
