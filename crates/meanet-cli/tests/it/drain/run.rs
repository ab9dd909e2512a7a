//! `meanet run --input -` on an open stream.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use super::*;

#[test]
fn run_on_a_stream_answers_every_sample_it_read_on_sigterm() {
    let b = bundle();
    let mut child = Command::new(env!("CARGO_BIN_EXE_meanet"))
        .args([
            "run",
            b.as_str(),
            "--input",
            "-",
            "--json",
            "--max-wait-ms",
            "0",
        ])
        .args(["--set", "cloud.transport=none"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // 300 samples, the stream left open: only the signal ends it.
    stdin.write_all(&images(300)).unwrap();
    let lines = Arc::new(AtomicUsize::new(0));
    let out = {
        let (stdout, lines) = (child.stdout.take().unwrap(), Arc::clone(&lines));
        std::thread::spawn(move || {
            for _ in BufReader::new(stdout).lines().map_while(Result::ok) {
                lines.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    wait_until("the first outcome line", || {
        lines.load(Ordering::SeqCst) > 0
    });
    let p = Proc {
        child,
        log: Arc::default(),
    };
    sigterm(&p);
    let mut p = p;
    let mut stderr = String::new();
    p.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = exit_status(&mut p);
    out.join().unwrap();
    drop(stdin);
    assert!(status.success(), "exit status {status:?}: {stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("SIGTERM: stopped reading after"))
        .unwrap_or_else(|| panic!("{stderr}"));
    let numbers: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    let (read, answered) = (numbers[0], numbers[1]);
    let printed = lines.load(Ordering::SeqCst);
    assert!(read > 0, "{line}");
    assert_eq!(read, answered, "{line}");
    assert_eq!(printed, read, "one outcome line per sample read: {line}");
}
