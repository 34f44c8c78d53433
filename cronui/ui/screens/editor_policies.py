"""The job editor's sections after "What", the same for every kind: policies, chains and delivery, about."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Checkbox, Label

from cronui.model import APPROVAL_DEFAULTS, MisfirePolicy, OverlapPolicy
from cronui.targets import DELIVERY_FORMATS, DELIVERY_MODES
from cronui.ui.param_field import PLACEHOLDER as PARAMS_PLACEHOLDER
from cronui.ui.screens.editor_fields import FieldMaker, row


def policy_fields(f: FieldMaker) -> ComposeResult:
    v = f.values
    yield Label("Policies", classes="section")
    yield row(
        "Overlap",
        f.select("overlap", [(str(o), str(o)) for o in OverlapPolicy]),
        Label("Queue", classes="short"),
        f.input("queue_limit", classes="narrow-input"),
        Label("Pool", classes="short"),
        f.input("pool", placeholder="none", classes="narrow-input"),
    )
    yield f.error_line("overlap")
    yield row(
        "Retries",
        f.input("retries", classes="narrow-input"),
        Label("Delay", classes="short"),
        f.input("retry_delay", classes="narrow-input"),
        Label("Timeout", classes="short"),
        f.input("timeout", classes="narrow-input"),
    )
    yield f.error_line("retries")
    yield row(
        "Misfire",
        f.select("misfire", [(str(m), str(m)) for m in MisfirePolicy]),
        Label("Grace", classes="short"),
        f.input("misfire_grace", classes="narrow-input"),
    )
    yield f.error_line("misfire")
    yield row(
        "Stagger",
        f.input("stagger", placeholder="window", classes="narrow-input"),
        Label("Node", classes="short"),
        f.input("node_label", placeholder="label a node must carry (default: any node)"),
    )
    yield f.error_line("stagger")
    yield row(
        "Approval",
        Checkbox("runs wait", v["approval"], id="approval"),
        Label("Wait", classes="short"),
        f.input("approval_timeout", classes="tiny-input"),
        Label("Then", classes="short"),
        f.select("approval_default", [(d, d) for d in APPROVAL_DEFAULTS]),
        Label("Up to", classes="short"),
        f.input("approval_max_waiting", classes="tiny-input"),
    )
    yield f.error_line("approval")


def chain_and_delivery_fields(f: FieldMaker) -> ComposeResult:
    v = f.values
    yield Label("Chains and delivery", classes="section")
    yield row(
        "On success",
        f.input("on_success", placeholder="jobs to run after a success"),
        Label("When", classes="short"),
        f.input("when", placeholder="contains:X or regex:X"),
    )
    yield f.error_line("on_success")
    yield row("On failure", f.input("on_failure", placeholder="jobs to run after a failure"))
    yield f.error_line("on_failure")
    yield row(
        "Deliver",
        f.select("deliver", [(m, m) for m in DELIVERY_MODES]),
        Label("to", classes="short"),
        f.input("deliver_to", placeholder="e.g. ${env:SLACK_HOOK}"),
        f.select("deliver_format", [(fmt, fmt) for fmt in DELIVERY_FORMATS]),
    )
    yield f.error_line("deliver")
    yield row("Alert to", f.input("alert_to", placeholder="where failure alerts go (default: the delivery target)"))
    yield f.error_line("alert_to")
    yield row("Notices", Checkbox("announce a failure that will be retried", v["notify_retries"], id="notify_retries"))
    yield f.error_line("notify_retries")
    yield row(
        "Alert if",
        Label("late", classes="short"),
        f.input("alert_late", placeholder="[alerts]", classes="narrow-input"),
        Label("over", classes="short"),
        f.input("alert_overrun", placeholder="[alerts]", classes="narrow-input"),
        Label("short", classes="short"),
        f.input("alert_short", placeholder="[alerts]", classes="narrow-input"),
    )
    yield f.error_line("alert_late")
    yield row(
        "",
        Label("idle", classes="short"),
        f.input("alert_no_success", placeholder="no success", classes="narrow-input"),
        Label("rate", classes="short"),
        f.input("alert_rate", placeholder="PCT/N", classes="narrow-input"),
        Label("on", classes="short"),
        f.input("alert_on", placeholder="kinds: late, failure"),
    )
    yield f.error_line("alert_rate")


def about_fields(f: FieldMaker) -> ComposeResult:
    v = f.values
    yield Label("About", classes="section")
    yield row("Tags", f.input("tags", placeholder="e.g. ops nightly"))
    yield f.error_line("tags")
    yield row("Notes", f.input("description", placeholder="what this job is for"))
    yield row("State", Checkbox("enabled", v["enabled"], id="enabled"))


def param_fields(f: FieldMaker) -> ComposeResult:
    """The run-time parameters the job declares (`r` then asks for their values)."""
    yield Label("Parameters", classes="section")
    yield row("Params", f.input("params", placeholder=PARAMS_PLACEHOLDER))
    yield f.error_line("params")
