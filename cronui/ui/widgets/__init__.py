"""The TUI's widgets: the line-drawn tables (`table`, and the job and run lists on it), the live pane, the
output view, the header, footer and prompt. Run-status marks and colours have one home, `status`."""
