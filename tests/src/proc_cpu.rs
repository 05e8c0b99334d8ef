//! CPU time from `/proc` (Linux), for the benchmarks' CPU budgets: a process's own time, and
//! a whole process tree's (a server with the processes it started), in milliseconds.
//!
//! Times are in clock ticks: USER_HZ is 100 on every Linux we run on, so they move in 10 ms
//! steps.

use std::time::{Duration, Instant};

/// One process's `stat` line: its parent, name, own CPU ticks (user + system) and the ticks of
/// its children that have exited and been waited for.
struct Stat {
    pid: u32,
    ppid: u32,
    comm: String,
    own: u64,
    reaped: u64,
}

fn stat(pid: &str) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`: the name may hold spaces and parentheses, so it is cut at
    // the last ')'. After it: state 0, ppid 1, utime 11, stime 12, cutime 13, cstime 14.
    let (open, close) = (text.find('(')?, text.rfind(')')?);
    let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    let number = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    Some(Stat {
        pid: text.get(..open)?.trim().parse().ok()?,
        ppid: u32::try_from(number(1)?).ok()?,
        comm: text.get(open + 1..close)?.to_string(),
        own: number(11)? + number(12)?,
        reaped: number(13)? + number(14)?,
    })
}

fn all() -> Vec<Stat> {
    let entries = std::fs::read_dir("/proc").into_iter().flatten().flatten();
    entries
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| stat(&name))?
        })
        .collect()
}

/// `root` and every process below it.
fn tree(root: u32) -> Vec<Stat> {
    let mut everything = all();
    let mut inside = vec![root];
    let mut at = 0;
    while let Some(&pid) = inside.get(at) {
        at += 1;
        inside.extend(everything.iter().filter(|s| s.ppid == pid).map(|s| s.pid));
    }
    everything.retain(|s| inside.contains(&s.pid));
    everything
}

/// CPU time of this process so far (every thread, live or ended), in ms.
pub fn own_cpu_ms() -> u64 {
    stat("self").map_or(0, |s| s.own * 10)
}

/// CPU time of `root` and everything below it, in ms: the live processes' own time and what
/// each has collected from children it has waited for. A child that has exited but not been
/// waited for yet still counts as its own, so wait with [`wait_until_gone`] for processes that
/// are ending before reading: a child reaped between the two reads would count twice.
pub fn tree_cpu_ms(root: u32) -> u64 {
    tree(root).iter().map(|s| (s.own + s.reaped) * 10).sum()
}

/// Waits (up to `limit`) until no process named `comm` is left below `root`, exited or not;
/// false if one still is.
pub fn wait_until_gone(root: u32, comm: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if !tree(root).iter().any(|s| s.pid != root && s.comm == comm) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        // `/proc` announces nothing, and the processes to wait for are named, not known by
        // id (and their parent, not this process, reaps them): the condition is polled.
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_counts_in_its_parents_tree_once_it_is_waited_for() {
        let me = std::process::id();
        let before = tree_cpu_ms(me);
        // A child that burns CPU for a while: a busy loop in the shell, about 0.2 s here.
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg("i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done")
            .status()
            .unwrap();
        assert!(status.success());
        // `status` waited for it: its time is now in this process's children's time.
        let after = tree_cpu_ms(me);
        assert!(after >= before + 50, "before {before} ms, after {after} ms");
        assert!(own_cpu_ms() <= after);
    }

    #[test]
    fn waits_until_a_named_child_is_gone() {
        let me = std::process::id();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        assert!(!wait_until_gone(me, "sleep", Duration::from_millis(50)));
        child.kill().unwrap();
        // Exited but not yet waited for, it still counts.
        assert!(!wait_until_gone(me, "sleep", Duration::from_millis(50)));
        child.wait().unwrap();
        assert!(wait_until_gone(me, "sleep", Duration::from_secs(5)));
    }
}
