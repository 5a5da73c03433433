//! The kernel's NTP synchronisation state (`adjtimex(2)` read-only), for `doctor`: an order
//! stamped by a wrong clock is judged stale or fresh wrongly (`max_alert_age`, the replay
//! window, `max_order_age`). Neither `std` nor a maintained crate wraps the call; this crate
//! holds the project's only `unsafe`, two lines of it.

/// What the kernel says about the system clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockState {
    /// An NTP client disciplines the clock and the kernel considers it synchronised.
    pub synchronised: bool,
    /// The kernel's estimate of the clock's error, in microseconds.
    pub estimated_error_us: i64,
    /// The largest error the kernel allows for, in microseconds.
    pub maximum_error_us: i64,
}

/// Reads the clock's state without changing anything (`modes` is 0).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn clock_state() -> std::io::Result<ClockState> {
    // SAFETY: `timex` is a plain C struct of integers; all zeroes is a valid value, and a zero
    // `modes` makes adjtimex a pure read that only fills the struct it is given.
    let mut timex: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: a valid, exclusively borrowed `timex` for the duration of the call.
    let state = unsafe { libc::adjtimex(&mut timex) };
    if state == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(ClockState {
        synchronised: state != libc::TIME_ERROR && timex.status & libc::STA_UNSYNC == 0,
        estimated_error_us: timex.esterror as i64,
        maximum_error_us: timex.maxerror as i64,
    })
}

/// Not Linux: the state cannot be read.
#[cfg(not(target_os = "linux"))]
pub fn clock_state() -> std::io::Result<ClockState> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "adjtimex is Linux-only",
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_clock_state_can_be_read() {
        let state = super::clock_state().expect("adjtimex answers");
        assert!(state.maximum_error_us >= 0, "{state:?}");
    }
}
