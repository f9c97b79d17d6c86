"""UI benchmarks: idle CPU, vote → thank-you frame latency, memory after 10,000 votes.

    .venv/bin/python bench/ui.py idle [--seconds 60]
    .venv/bin/python bench/ui.py latency [--presses 200]
    .venv/bin/python bench/ui.py memory [--votes 10000]
    .venv/bin/python bench/ui.py touch [--touches 30]   # first touch after idling → thank-you
    .venv/bin/python bench/ui.py voice [--presses 200]  # latency A/B: voice off, then on
    .venv/bin/python bench/ui.py start [--starts 5]     # start → first frame, vs minimal app
    .venv/bin/python bench/ui.py all        # all of them, for bench/RESULTS-ui.md
    .venv/bin/python bench/ui.py slow       # the slow terminal: --cpu-quota 0.2 with idle,
                                            # start, and press → frame with voice off/on

``--cpu-quota 0.2`` confines the measured app and its Xvfb to a fifth of one core (cgroup v1
``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``, root only): a rough stand-in for a Raspberry
Pi 4's single core.

``--as-installed`` hides from both apps what only the [dev] extra installs (numpy, for
colorspacious): sqlite-utils and Pillow import numpy when they find it, a terminal has none.

``HAILONG_UI_IDLE=poll`` runs the kiosk with Kivy's polling loop instead of the blocking idle
(kiosk/ui/idle.py), for comparison.

Each starts its own Xvfb (needs xvfb) and compares against a minimal Kivy app (one Label,
bench/ui_minimal_app.py) measured in the same run, under the same X server.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


def start_xvfb() -> tuple[subprocess.Popen, str]:
    for number in range(150, 400):
        if not Path(f"/tmp/.X{number}-lock").exists():
            break
    proc = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1024x600x24",
                             "-nolisten", "tcp"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, preexec_fn=confined())
    for _ in range(100):
        if Path(f"/tmp/.X11-unix/X{number}").exists():
            break
        time.sleep(0.05)
    return proc, f":{number}"


CGROUP_CPU = Path("/sys/fs/cgroup/cpu")
QUOTA: dict = {}  # "procs": the cgroup.procs file of the bench's quota group, once made


def make_quota(fraction: float) -> Path:
    """A cgroup v1 cpu group limited to ``fraction`` of one core; its cgroup.procs."""
    group = CGROUP_CPU / f"hailong-bench-{os.getpid()}"
    group.mkdir(exist_ok=True)
    period = 100_000
    (group / "cpu.cfs_period_us").write_text(str(period))
    (group / "cpu.cfs_quota_us").write_text(str(int(period * fraction)))
    return group / "cgroup.procs"


def confined():
    """preexec_fn: the new process joins the quota group before it runs anything."""
    procs = QUOTA.get("procs")
    if procs is None:
        return None
    return lambda: procs.write_text(str(os.getpid()))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


#: ``--as-installed``: modules of this venv that a terminal does not have (they come with the
#: [dev] extra only: colorspacious needs numpy), hidden from both apps.
NOT_ON_A_TERMINAL = ("numpy",)
HIDDEN: dict = {}


def hide_dev_modules() -> None:
    """Both apps start as on a terminal installed without the [dev] extra: a sitecustomize
    (first on PYTHONPATH) makes ``import numpy`` fail, as it does there."""
    folder = Path(tempfile.mkdtemp())
    (folder / "sitecustomize.py").write_text(
        "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in NOT_ON_A_TERMINAL))
    HIDDEN["path"] = str(folder)


def env_for(display: str, db: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIOSK_", "KIVY_"))}
    path = os.pathsep.join(p for p in (HIDDEN.get("path"), str(ROOT)) if p)
    env.update(DISPLAY=display, PYTHONPATH=path, KIOSK_STORAGE__PATH=str(db),
               KIOSK_GPIO__PIN_FACTORY="mock", KIOSK_CONFIG=str(db.parent / "kiosk.toml"),
               KIVY_NO_ARGS="1", KIVY_NO_CONFIG="1")
    (db.parent / "kiosk.toml").write_text("")
    return env


def idle(seconds: float) -> dict:
    """Both apps side by side for `seconds`, 5 s after both drew their first frame; CPU % of
    one core."""
    import socket

    xvfb, display = start_xvfb()
    tmp = Path(tempfile.mkdtemp())
    procs = {}
    ready = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ready.bind(str(tmp / "notify"))
    ready.settimeout(120)
    try:
        # Both say READY=1 after their first frame; the warm-up starts then (under a CPU
        # quota the kiosk's start takes longer than a fixed warm-up).
        env = env_for(display, tmp / "votes.db") | {"NOTIFY_SOCKET": str(tmp / "notify")}
        procs["kiosk"] = subprocess.Popen([sys.executable, "-m", "kiosk.cli", "run"], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          preexec_fn=confined())
        procs["minimal"] = subprocess.Popen([sys.executable, str(ROOT / "bench" /
                                                                 "ui_minimal_app.py")],
                                            env=env, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, preexec_fn=confined())
        for _ in procs:
            while ready.recv(256) != b"READY=1":
                pass
        time.sleep(5)
        start = {name: cpu_seconds(p.pid) for name, p in procs.items()}
        time.sleep(seconds)
        used = {name: cpu_seconds(p.pid) - start[name] for name, p in procs.items()}
        result = {f"{name}_cpu_percent": round(100 * used[name] / seconds, 2) for name in used}
        result |= {f"{name}_rss_mib": round(rss_mib(p.pid), 1) for name, p in procs.items()}
        result["seconds"] = seconds
        result["ratio"] = round(used["kiosk"] / used["minimal"], 3) if used["minimal"] else None
        return result
    finally:
        ready.close()
        for p in procs.values():
            p.terminate()
            p.wait(10)
        xvfb.terminate()


def start(count: int) -> dict:
    """Process start → first frame on the screen (READY=1 on NOTIFY_SOCKET, sent after the
    first flip by both apps), kiosk and minimal app alternately, one at a time; RSS of each
    3 s after its first frame (the kiosk on its rating screen)."""
    import socket

    xvfb, display = start_xvfb()
    tmp = Path(tempfile.mkdtemp())
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp / "notify"))
    sock.settimeout(120)
    times: dict[str, list[float]] = {"kiosk": [], "minimal": []}
    rss: dict[str, list[float]] = {"kiosk": [], "minimal": []}
    commands = {"kiosk": [sys.executable, "-m", "kiosk.cli", "run"],
                "minimal": [sys.executable, str(ROOT / "bench" / "ui_minimal_app.py")]}
    try:
        env = env_for(display, tmp / "votes.db") | {"NOTIFY_SOCKET": str(tmp / "notify")}
        for _ in range(count):
            for name, command in commands.items():
                started = time.monotonic()
                proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, preexec_fn=confined())
                try:
                    while sock.recv(256) != b"READY=1":
                        pass
                    times[name].append(time.monotonic() - started)
                    time.sleep(3)
                    rss[name].append(rss_mib(proc.pid))
                finally:
                    proc.terminate()
                    proc.wait(30)
        result = {f"{name}_start_s": round(statistics.median(t), 2) for name, t in times.items()}
        result |= {f"{name}_start_all_s": [round(x, 2) for x in t] for name, t in times.items()}
        result |= {f"{name}_rss_mib": round(statistics.median(r), 1) for name, r in rss.items()}
        result["start_ratio"] = round(result["kiosk_start_s"] / result["minimal_start_s"], 2)
        result["rss_ratio"] = round(result["kiosk_rss_mib"] / result["minimal_rss_mib"], 2)
        return result
    finally:
        sock.close()
        xvfb.terminate()


def child(mode: str, count: int, out: str) -> None:
    """Runs inside the app process (latency, memory)."""
    from kiosk.config import KioskConfig
    from kiosk.ui.app import create_app
    from kiosk.vote import Source

    tmp = Path(tempfile.mkdtemp())
    voice = {"device": "null", "folder": os.environ["HAILONG_BENCH_VOICE"]} \
        if mode == "latency-voice" else {}
    config = KioskConfig.model_validate({
        "storage": {"path": str(tmp / "votes.db")}, "gpio": {"pin_factory": "mock"},
        "rules": {"lockout_s": 0, "misuse_max_votes": 1000}, "voice": voice})
    app = create_app(config, windowed=True, size=(1024, 600))
    from kivy.clock import Clock
    from kivy.core.window import Window

    result: dict = {}
    committed: list[float] = []
    pressed: list[float] = []
    drawn: list[float] = []
    recorded = threading.Semaphore(0)

    class Probe:  # first listener: called right after the commit, on the capture thread
        def vote_recorded(self, vote):
            committed.append(time.perf_counter())
            recorded.release()

        def press_ignored(self, d): ...
        def storage_failed(self, e): ...
        def storage_recovered(self): ...
        def button_test(self, e): ...

    app.capture.listeners.insert(0, Probe())
    waiting = threading.Event()

    def flipped(*_):
        if waiting.is_set() and app.stage.current_name == "thanks":
            drawn.append(time.perf_counter())
            waiting.clear()
            shown.set()

    shown = threading.Event()
    Window.bind(on_flip=flipped)

    def on_main(fn):
        done = threading.Event()
        Clock.schedule_once(lambda dt: (fn(), done.set()))
        done.wait(5)

    def script():
        time.sleep(2)
        if mode == "touch":
            # A real X click (xdotool) on a rating button after the loop has idled 1.5 s:
            # the worst case of a citizen's first touch. Timed from just before xdotool runs
            # to the thank-you frame (includes starting xdotool and the X round trip).
            wid = str(Window.get_window_info().window)
            lat = []
            for i in range(count):
                on_main(app.go_home)
                time.sleep(1.5)
                button = app.rating.buttons[i % len(app.rating.buttons)]
                x, y = button.to_window(*button.center)
                shown.clear()
                waiting.set()
                started = time.perf_counter()
                subprocess.run(["xdotool", "mousemove", "--window", wid, str(int(x)),
                                str(int(Window.height - y)), "click", "1"], check=True)
                if shown.wait(2):
                    lat.append((drawn[-1] - started) * 1000)
            lat.sort()
            result.update(touches=count, frames=len(lat),
                          p50_ms=round(statistics.median(lat), 1),
                          p99_ms=round(lat[max(0, int(len(lat) * 0.99) - 1)], 1),
                          max_ms=round(lat[-1], 1))
        elif mode in ("latency", "latency-voice"):
            for i in range(count):
                on_main(app.go_home)
                time.sleep(0.25)  # the rating screen's own frame is drawn and the loop idles
                shown.clear()
                waiting.set()
                pressed.append(time.perf_counter())
                app.capture.press(1 + i % 3, Source.TOUCH)
                shown.wait(2)
            lat = sorted((d - c) * 1000 for c, d in zip(committed, drawn, strict=False))
            whole = sorted((d - p) * 1000 for p, d in zip(pressed, drawn, strict=False))
            result.update(presses=count, frames=len(lat), **spread(lat),
                          **{f"press_{k}": v for k, v in spread(whole).items()})
        else:
            # Through the real capture path (rules, store with fsync, UI listener), queued at
            # once with synthetic press times 100 ms apart so no press is a bounce.
            from kiosk.rules import ButtonEvent, Edge
            base = time.monotonic_ns()
            started = time.monotonic()
            for i in range(count):
                app.capture.submit(ButtonEvent(1 + i % 3, Edge.CLICK, Source.TOUCH,
                                               base + i * 100_000_000))
            while len(committed) < count and time.monotonic() - started < 1500:
                time.sleep(0.5)
            result["seconds_to_record"] = round(time.monotonic() - started, 1)
            time.sleep(3)
            on_main(app.go_home)
            time.sleep(2)
            counts = app.capture.store.counts()
            result.update(votes=counts["total"], rss_mib=round(rss_mib(os.getpid()), 1))
        Path(out).write_text(json.dumps(result))
        Clock.schedule_once(lambda dt: app.stop())

    threading.Thread(target=script, daemon=True).start()
    app.run()


def spread(lat: list[float]) -> dict:
    """p50, p99 and max of latencies in ms (``lat`` sorted)."""
    return {"p50_ms": round(statistics.median(lat), 2),
            "p99_ms": round(lat[max(0, int(len(lat) * 0.99) - 1)], 2),
            "max_ms": round(lat[-1], 2)}


def run_child(mode: str, count: int) -> dict:
    xvfb, display = start_xvfb()
    out = Path(tempfile.mkdtemp()) / "result.json"
    try:
        env = env_for(display, out.parent / "unused.db")
        minimal = subprocess.Popen([sys.executable, str(ROOT / "bench" / "ui_minimal_app.py")],
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run([sys.executable, __file__, "_child", mode, str(count), str(out)],
                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=3600, check=True, preexec_fn=confined())
        result = json.loads(out.read_text())
        result["minimal_rss_mib"] = round(rss_mib(minimal.pid), 1)
        minimal.terminate()
        minimal.wait(10)
        return result
    finally:
        xvfb.terminate()


def main() -> int:
    if sys.argv[1:2] == ["_child"]:
        child(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return 0
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["idle", "latency", "memory", "touch", "voice", "start",
                                         "all", "slow"])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument("--votes", type=int, default=10_000)
    parser.add_argument("--touches", type=int, default=30)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--cpu-quota", type=float, default=None, metavar="FRACTION",
                        help="confine the app and its Xvfb to this share of one core")
    parser.add_argument("--as-installed", action="store_true",
                        help="hide what only the [dev] extra installs (numpy) from both apps")
    args = parser.parse_args()
    if args.as_installed:
        hide_dev_modules()
    if args.what == "slow":
        args.cpu_quota = args.cpu_quota or 0.2
    if args.cpu_quota:
        QUOTA["procs"] = make_quota(args.cpu_quota)
    results = {}
    if args.what in ("start", "all", "slow"):
        results["start"] = start(args.starts)
    if args.what in ("idle", "all", "slow"):
        results["idle"] = idle(args.seconds)
    if args.what in ("latency", "all"):
        results["latency"] = run_child("latency", args.presses)
    if args.what in ("memory", "all"):
        results["memory"] = run_child("memory", args.votes)
    if args.what in ("touch", "all"):
        results["touch"] = run_child("touch", args.touches)
    if args.what in ("voice", "all", "slow"):
        # Same run, same X server conditions: committed vote → thank-you frame without a
        # voice, then with the voice saying the level on ALSA's null device (espeak-ng prompts).
        from kiosk.voice.build import build
        folder = Path(tempfile.mkdtemp()) / "prompts"
        build(folder)
        os.environ["HAILONG_BENCH_VOICE"] = str(folder)
        results["voice"] = {"off": run_child("latency", args.presses),
                            "on": run_child("latency-voice", args.presses)}
    if args.cpu_quota:
        results["cpu_quota"] = args.cpu_quota
        for _ in range(50):  # the group goes once its last process (Xvfb) has exited
            try:
                QUOTA["procs"].parent.rmdir()
                break
            except OSError:
                time.sleep(0.1)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
