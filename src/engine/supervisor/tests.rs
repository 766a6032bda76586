//! The process policy on a virtual clock.

use std::time::{Duration, Instant};

use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn actions(s: &mut Supervisor) -> Vec<Action> {
    std::iter::from_fn(|| s.poll_action()).collect()
}

fn ended(call_id: &str, code: u8, now: Instant) -> Input {
    Input::Ended {
        call_id: call_id.into(),
        code,
        owes_leave: false,
        now,
    }
}

#[test]
fn answer_gives_up_when_the_wait_runs_out() {
    let t0 = Instant::now();
    let mut s = Supervisor::new(Role::Answer, Plans::default());
    s.handle_input(Input::WaitUntil(t0 + secs(30)));
    assert_eq!(s.poll_timeout(), Some(t0 + secs(30)));
    s.handle_input(Input::Timeout(t0 + secs(29)));
    assert_eq!((s.exit(), actions(&mut s)), (None, vec![]));
    s.handle_input(Input::Timeout(t0 + secs(30)));
    assert_eq!(actions(&mut s), vec![Action::NoAnswer]);
    assert_eq!(s.exit(), Some(exit::NO_ANSWER));
}

#[test]
fn a_call_being_answered_stops_the_wait_and_its_end_is_the_exit_code() {
    let t0 = Instant::now();
    let mut s = Supervisor::new(Role::Answer, Plans::default());
    s.handle_input(Input::WaitUntil(t0 + secs(30)));
    s.handle_input(Input::Current("c1".into()));
    assert_eq!(s.poll_timeout(), None);
    s.handle_input(Input::Timeout(t0 + secs(60)));
    assert_eq!(s.exit(), None);
    // Another call's end does not end the process.
    s.handle_input(ended("other", exit::DECLINED, t0 + secs(61)));
    assert_eq!(s.exit(), None);
    s.handle_input(ended("c1", exit::OK, t0 + secs(62)));
    assert_eq!(s.exit(), Some(exit::OK));
}

#[test]
fn duration_and_dtmf_count_from_connected() {
    let t0 = Instant::now();
    let plans = Plans {
        duration: Some(secs(10)),
        dtmf_delay: Some(secs(2)),
    };
    let mut s = Supervisor::new(Role::Call, plans);
    s.handle_input(Input::Current("c1".into()));
    // Not the process's call: no timers.
    s.handle_input(Input::Connected {
        call_id: "other".into(),
        dtmf: true,
        now: t0,
    });
    assert_eq!(s.poll_timeout(), None);
    s.handle_input(Input::Connected {
        call_id: "c1".into(),
        dtmf: true,
        now: t0 + secs(1),
    });
    assert_eq!(s.poll_timeout(), Some(t0 + secs(3)));
    s.handle_input(Input::Timeout(t0 + secs(3)));
    assert_eq!(actions(&mut s), vec![Action::SendDtmf]);
    assert_eq!(s.poll_timeout(), Some(t0 + secs(11)));
    s.handle_input(Input::Timeout(t0 + secs(11)));
    assert_eq!(actions(&mut s), vec![Action::HangupCurrent]);
    assert_eq!(s.exit(), None, "the exit waits for the call's end");
    s.handle_input(ended("c1", exit::OK, t0 + secs(12)));
    assert_eq!(s.exit(), Some(exit::OK));
}

#[test]
fn no_dtmf_timer_for_a_protocol_without_dtmf() {
    let t0 = Instant::now();
    let plans = Plans {
        duration: None,
        dtmf_delay: Some(secs(2)),
    };
    let mut s = Supervisor::new(Role::Call, plans);
    s.handle_input(Input::Current("rtc".into()));
    s.handle_input(Input::Connected {
        call_id: "rtc".into(),
        dtmf: false,
        now: t0,
    });
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn glare_hands_the_process_over_to_the_surviving_call() {
    let t0 = Instant::now();
    let mut s = Supervisor::new(Role::Call, Plans::default());
    s.handle_input(Input::Current("ours".into()));
    s.handle_input(Input::Replaced {
        call_id: "ours".into(),
        by: "theirs".into(),
    });
    assert!(s.is_current("theirs"));
    // The replaced call's end is not the process's.
    s.handle_input(ended("ours", exit::ELSEWHERE, t0));
    assert_eq!(s.exit(), None);
    s.handle_input(ended("theirs", exit::OK, t0));
    assert_eq!(s.exit(), Some(exit::OK));
}

#[test]
fn ctrl_c_hangs_up_and_exits_after_the_grace_or_at_a_second_one() {
    let t0 = Instant::now();
    // Nothing live: exit at once.
    let mut s = Supervisor::new(
        Role::Watch {
            once: false,
            answering: false,
        },
        Plans::default(),
    );
    s.handle_input(Input::Interrupt {
        any_live: false,
        now: t0,
    });
    assert_eq!(s.exit(), Some(exit::INTERRUPTED));
    assert_eq!(actions(&mut s), vec![], "watch: stopping is its normal end");

    // `answer` with no call yet, `call` whose callee has not joined: reported as cancelled.
    for role in [Role::Answer, Role::Call] {
        let mut s = Supervisor::new(role, Plans::default());
        s.handle_input(Input::WaitUntil(t0 + secs(30)));
        s.handle_input(Input::Interrupt {
            any_live: false,
            now: t0,
        });
        assert_eq!(actions(&mut s), vec![Action::Cancelled], "{role:?}");
        assert_eq!(s.exit(), Some(exit::INTERRUPTED), "{role:?}");
        s.handle_input(Input::Interrupt {
            any_live: false,
            now: t0 + secs(1),
        });
        assert_eq!(actions(&mut s), vec![], "{role:?}: reported once");
    }

    // A live call: hang up, and exit when the grace runs out.
    let mut s = Supervisor::new(Role::Call, Plans::default());
    s.handle_input(Input::Current("c1".into()));
    s.handle_input(Input::Interrupt {
        any_live: true,
        now: t0,
    });
    assert_eq!(actions(&mut s), vec![Action::HangupAll]);
    assert_eq!(s.exit(), None);
    assert_eq!(s.poll_timeout(), Some(t0 + INTERRUPT_GRACE));
    s.handle_input(Input::Timeout(t0 + INTERRUPT_GRACE));
    assert_eq!(s.exit(), Some(exit::INTERRUPTED));

    // A second Ctrl-C does not wait.
    let mut s = Supervisor::new(Role::Call, Plans::default());
    s.handle_input(Input::Interrupt {
        any_live: true,
        now: t0,
    });
    s.handle_input(Input::Interrupt {
        any_live: true,
        now: t0 + secs(1),
    });
    assert_eq!(s.exit(), Some(exit::INTERRUPTED));

    // The hangup went out in time: the call's own code.
    let mut s = Supervisor::new(Role::Call, Plans::default());
    s.handle_input(Input::Current("c1".into()));
    s.handle_input(Input::Interrupt {
        any_live: true,
        now: t0,
    });
    s.handle_input(ended("c1", exit::OK, t0 + secs(1)));
    assert_eq!(s.exit(), Some(exit::OK));
}

#[test]
fn watch_runs_on_and_once_ends_with_the_first_call() {
    let t0 = Instant::now();
    let mut s = Supervisor::new(
        Role::Watch {
            once: false,
            answering: true,
        },
        Plans::default(),
    );
    s.handle_input(Input::Current("c1".into()));
    s.handle_input(ended("c1", exit::DECLINED, t0));
    assert_eq!(s.exit(), None);
    assert_eq!(s.current(), None, "free to answer the next call");

    let mut s = Supervisor::new(
        Role::Watch {
            once: true,
            answering: true,
        },
        Plans::default(),
    );
    s.handle_input(Input::Current("c1".into()));
    s.handle_input(ended("c1", exit::NO_ANSWER, t0));
    assert_eq!(s.exit(), Some(exit::NO_ANSWER));

    // Only watching: the call's outcome is not this process's failure.
    let mut s = Supervisor::new(
        Role::Watch {
            once: true,
            answering: false,
        },
        Plans::default(),
    );
    s.handle_input(ended("c1", exit::DECLINED, t0));
    assert_eq!(s.exit(), Some(exit::OK));
}

#[test]
fn a_matrixrtc_call_exits_once_our_leave_is_on_the_server_or_after_the_grace() {
    let t0 = Instant::now();
    let mut s = Supervisor::new(Role::Call, Plans::default());
    s.handle_input(Input::Current("c1".into()));
    s.handle_input(Input::Ended {
        call_id: "c1".into(),
        code: exit::OK,
        owes_leave: true,
        now: t0,
    });
    assert_eq!(s.exit(), None);
    s.handle_input(Input::Left);
    assert_eq!(s.exit(), Some(exit::OK));

    let mut s = Supervisor::new(Role::Call, Plans::default());
    s.handle_input(Input::Current("c1".into()));
    s.handle_input(Input::Ended {
        call_id: "c1".into(),
        code: exit::MEDIA,
        owes_leave: true,
        now: t0,
    });
    assert_eq!(s.poll_timeout(), Some(t0 + LEAVE_GRACE));
    s.handle_input(Input::Timeout(t0 + LEAVE_GRACE));
    assert_eq!(s.exit(), Some(exit::MEDIA));
}

#[test]
fn decline_ends_only_when_told_and_the_first_code_stands() {
    let t0 = Instant::now();
    let mut s = Supervisor::new(Role::Decline, Plans::default());
    s.handle_input(ended("c1", exit::DECLINED, t0));
    assert_eq!(s.exit(), None);
    s.handle_input(Input::Finish(exit::OK));
    s.handle_input(Input::Finish(exit::OTHER));
    assert_eq!(s.exit(), Some(exit::OK));
}
