//! Debug output through `DbgPrint` (shown by a kernel debugger or DebugView on Windows, and by
//! Wine with `WINEDEBUG=+debugstr`). Formatting happens in a stack buffer: no allocation, so
//! logging works in completion routines and in the panic handler.

use core::fmt;

use super::sys;

/// A fixed buffer `fmt::Write` fills, truncating what does not fit, always NUL-terminable.
pub struct StackBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackBuf<N> {
    /// Empty.
    pub const fn new() -> Self {
        Self { buf: [0; N], len: 0 }
    }

    /// The text so far, NUL-terminated (the last byte is sacrificed if the buffer is full).
    pub fn as_c_str(&mut self) -> *const u8 {
        let end = self.len.min(N - 1);
        self.buf[end] = 0;
        self.buf.as_ptr()
    }
}

impl<const N: usize> fmt::Write for StackBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Keep one byte for the NUL and never split the text at a byte that is a NUL.
        for &b in s.as_bytes() {
            if self.len + 1 >= N {
                break;
            }
            self.buf[self.len] = if b == 0 { b'?' } else { b };
            self.len += 1;
        }
        Ok(())
    }
}

/// Prints a formatted buffer with a newline.
pub fn print_raw<const N: usize>(text: &mut StackBuf<N>) {
    // SAFETY: "%s\n" with one NUL-terminated string argument.
    unsafe {
        sys::DbgPrint(c"%s\n".as_ptr(), text.as_c_str());
    }
}

/// Prints `args` prefixed with "peerdrt: ".
pub fn print(args: fmt::Arguments<'_>) {
    let mut text = StackBuf::<320>::new();
    let _ = fmt::Write::write_str(&mut text, "peerdrt: ");
    let _ = fmt::Write::write_fmt(&mut text, args);
    print_raw(&mut text);
}

/// `log!("...", args)`: a line of debug output.
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::nt::log::print(format_args!($($arg)*))
    };
}
pub(crate) use log;
