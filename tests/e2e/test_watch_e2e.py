"""A check's alerts end to end, in real processes: `cronui --no-ui` watches a check fed by `cronui exec`,
`cronui ping` and `POST /ping/...`; its alerts reach a real SMTP server taking a login (aiosmtpd,
through apprise's `mailto://`) and a loopback JSON receiver (through `json://`), both channels' secrets
given as `${env:NAME}` to the daemon. The slot nobody pinged is alerted `late`, the failed exec `failure`
(--alert-after 1), the pings after them `recovered`; `cronui alerts --json` lists every send as sent,
matching what the services received; the secrets are in no output, log or database byte."""

from __future__ import annotations

import base64
import json
import signal
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from tests.alert_receivers import JsonReceiver, _Mailbox, json_receiver, mail_text, smtp_server
from tests.e2e.processes import Processes, cronui, lease_pid, query, wait_for
from tests.e2e.test_faults_api import serve

SMTP_PASS = "smtpPass0x5eCr3tQ"
HOOK_TOKEN = "hookTok3nZ9y8x7w6"
JOB = "watched"


def received(box: _Mailbox, hook: JsonReceiver) -> dict[str, list[tuple[str, str]]]:
    """(title, text) of each notice each service got, in order: `mailto` the mails, `json` the bodies."""
    mails = [mail_text(mail) for _, _, mail in box.mails]
    bodies = [(str(b.get("title")), str(b.get("message"))) for b in list(hook.bodies)]
    return {"mailto": mails, "json": bodies}


def notices(got: list[tuple[str, str]], notice: str, says: str = "") -> list[str]:
    """The texts of the notices titled `cronui: JOB NOTICE` (whose text says `says`)."""
    return [text for title, text in got if title == f"cronui: {JOB} {notice}" and says in text]


def at_both(box: _Mailbox, hook: JsonReceiver, notice: str, says: str = "", count: int = 1) -> bool:
    return all(len(notices(got, notice, says)) >= count for got in received(box, hook).values())


def of_job(listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for a in listed if a["job"] == JOB]


def sends_match_what_was_received(listed: list[dict[str, Any]], box: _Mailbox, hook: JsonReceiver) -> bool:
    """Every send listed is sent, and each service got exactly the notices listed as sent to it."""
    sends = [s for a in listed for s in a["sends"]]
    if not sends or any(s["outcome"] != "sent" for s in sends):
        return False
    got = received(box, hook)
    for scheme in ("mailto", "json"):
        said = Counter(s["notice"] for s in sends if s["channel"].startswith(f"{scheme}://"))
        came = Counter(title.removeprefix(f"cronui: {JOB} ") for title, _ in got[scheme])
        if said != came:
            return False
    return True


def test_a_checks_alerts_reach_a_real_smtp_server_and_a_json_receiver_with_no_secret_shown(
    env: dict[str, str], procs: Processes, tmp_path: Path
) -> None:
    with smtp_server(login=("ops", SMTP_PASS)) as (smtp_port, box), json_receiver() as hook:
        env = {**env, "SMTP_PASS": SMTP_PASS, "HOOK_TOKEN": HOOK_TOKEN}
        mail = (
            f"mailto://ops:${{env:SMTP_PASS}}@127.0.0.1:{smtp_port}"
            "?to=oncall@example.com&from=cronui@example.com&mode=insecure"
        )
        hook_url = f"json://bot:${{env:HOOK_TOKEN}}@127.0.0.1:{hook.port}/alerts"
        add = ["jobs", "add", JOB, "--check", "--schedule", "every 3s", "--grace", "1s", "--alert-after", "1"]
        cronui(env, *add, "--alert-to", mail, "--alert-to", hook_url)
        daemon = procs.spawn("--no-ui", env=env, name="daemon")
        server, port = serve(procs, env)  # it starts while the first slot waits for its grace
        base = f"http://127.0.0.1:{port}"
        token = cronui(env, "jobs", "token", JOB).stdout.strip()
        wait_for(lambda: lease_pid(env) == daemon.pid, what="the daemon's lease")

        # the first slot: nobody pings it, so its grace passes and it is late, said at both
        wait_for(lambda: at_both(box, hook, "late"), timeout=15, what="a late alert at both services")
        for got in received(box, hook).values():
            text = notices(got, "late")[0]
            assert text.startswith(f"⏰ {JOB}: the slot of ") and "late" in text, text
        assert box.mails[0][1] == ["oncall@example.com"]

        # a ping since that slot clears it: `recovered`, saying what cleared
        done = cronui(env, "exec", JOB, "--", "sh", "-c", "echo copied; exit 0")
        assert done.returncode == 0 and "copied" in done.stdout
        wait_for(lambda: at_both(box, hook, "recovered", "late cleared"), what="the late slot's recovery at both")

        # one failure is enough with --alert-after 1
        failed = cronui(env, "exec", JOB, "--", "sh", "-c", "echo broken >&2; exit 4", check=False)
        assert failed.returncode == 4
        wait_for(lambda: at_both(box, hook, "failure"), what="a failure alert at both")
        [(failed_id,)] = query(env, "SELECT id FROM runs WHERE trigger = 'ping' AND status = 'failed'")
        for got in received(box, hook).values():
            said = f"🚨 {JOB} failed 1 times in a row; last: broken (run #{failed_id})"
            assert notices(got, "failure") == [said], got

        # the next success recovers from it
        cronui(env, "ping", JOB, "--message", "by hand")
        wait_for(lambda: at_both(box, hook, "recovered", "succeeded"), what="the failure's recovery at both")
        [(by_hand,)] = query(env, "SELECT id FROM runs WHERE trigger = 'ping' AND output = 'by hand'")
        for got in received(box, hook).values():
            assert notices(got, "recovered", "succeeded") == [f"✅ {JOB} recovered: run #{by_hand} succeeded"], got

        # pings over HTTP, successes after a success: nothing more to say
        auth = {"Authorization": f"Bearer {token}"}
        assert httpx.post(f"{base}/ping/{JOB}/start", headers=auth, timeout=10).status_code == 200
        r = httpx.post(f"{base}/ping/{JOB}/0", headers=auth, content="12 GB", timeout=10)
        assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
        runs = query(env, "SELECT id, status, exit_code, output FROM runs WHERE trigger = 'ping' ORDER BY id")
        assert [row[1:] for row in runs] == [
            ("succeeded", 0, "copied\n"),
            ("failed", 4, "broken\n"),
            ("succeeded", None, "by hand"),
            ("succeeded", 0, "12 GB"),
        ]

        # every send listed as sent, and what each service got is exactly that (later slots nobody pinged in
        # time are late too, each once, each at both)
        seen: list[list[dict[str, Any]]] = []  # the listing that matched (the next late slot may come after it)

        def all_received() -> bool:  # asked of the API (no process to start each time), as the CLI lists them
            seen.append(of_job(httpx.get(f"{base}/api/v1/alerts", timeout=10).json()))
            return sends_match_what_was_received(seen[-1], box, hook)

        wait_for(all_received, what="the sends listed as received")
        listed = seen[-1]
        kinds = Counter(a["kind"] for a in listed)
        assert set(kinds) == {"late", "failure"} and kinds["failure"] == 1, kinds
        [failure] = [a for a in listed if a["kind"] == "failure"]
        assert failure["closed_at"] is not None
        assert sorted((s["notice"], s["channel"].split("://")[0]) for s in failure["sends"]) == [
            ("failure", "json"),
            ("failure", "mailto"),
            ("recovered", "json"),
            ("recovered", "mailto"),
        ]
        first_late = min((a for a in listed if a["kind"] == "late"), key=lambda a: int(a["episode"]))
        assert first_late["closed_at"] is not None and len(first_late["sends"]) == 4
        for send in (s for a in listed for s in a["sends"]):  # what its own service answered, not another's
            if send["channel"].startswith("mailto://"):
                assert "Sent Email" in send["answer"] and "JSON" not in send["answer"], send
            else:
                assert "Sent JSON POST" in send["answer"] and "Email" not in send["answer"], send
        late_slots = [a["episode"] for a in listed if a["kind"] == "late"]
        assert len(late_slots) == len(set(late_slots)), "a slot alerted late twice"

        # both secrets reached their services (the SMTP login, the JSON receiver's Basic auth) and nothing else
        assert box.logins == [("ops", SMTP_PASS)] * len(box.mails)
        basic = "Basic " + base64.b64encode(f"bot:{HOOK_TOKEN}".encode()).decode()
        assert hook.auth and set(hook.auth) == {basic}

        commands = {"alerts": ["alerts"], "jobs show": ["jobs", "show", JOB]}
        commands |= {f"{k} --json": [*v, "--json"] for k, v in commands.items()}
        with ThreadPoolExecutor(len(commands)) as pool:  # each its own process, at once
            done_by = {k: pool.submit(cronui, env, *argv) for k, argv in commands.items()}
            outputs = {f"cronui {k}": f.result().stdout for k, f in done_by.items()}
        outputs["api alerts"] = httpx.get(f"{base}/api/v1/alerts", timeout=10).text
        by_id = {a["id"]: a for a in of_job(json.loads(outputs["cronui alerts --json"]))}
        assert all(by_id[a["id"]] == a for a in listed), "`cronui alerts --json` lists each send, sent"
        outputs["api job"] = httpx.get(f"{base}/api/v1/jobs/{JOB}", timeout=10).text
        assert "${env:SMTP_PASS}" in outputs["cronui jobs show"]  # the channel is shown, its reference as written
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0
        assert server.poll() is None
        for p in procs.started:
            outputs[f"log {Path(p.log_path).name}"] = Path(p.log_path).read_text()  # type: ignore[attr-defined]
        for where, text in outputs.items():
            assert SMTP_PASS not in text and HOOK_TOKEN not in text, where
        daemon_log = outputs[f"log {Path(daemon.log_path).name}"]  # type: ignore[attr-defined]
        assert '"event": "finished"' in daemon_log
        assert "Sent Email" not in daemon_log and "Sent JSON" not in daemon_log, "apprise lines stay with the sends"
        db = Path(env["CRONUI_DB"])
        stored = b"".join(f.read_bytes() for f in db.parent.glob(db.name + "*"))
        assert stored and SMTP_PASS.encode() not in stored and HOOK_TOKEN.encode() not in stored
