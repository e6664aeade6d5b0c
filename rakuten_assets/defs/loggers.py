"""`terminal`: the run log `rakuten materialize` / `rakuten ingest` print. Dagster's console logger
prints a failed step's whole stack trace (twice: step and run failure); a terminal user needs the
error's own words, and the Dagster UI keeps the full event with its stack."""

import logging
import sys

import dagster as dg


# How Dagster prefixes the description of a `dg.Failure` an asset raised on purpose.
FAILURE_PREFIX = "dagster._core.definitions.events.Failure: "


class _FirstLines(logging.Formatter):
    """`time - level - step - message`, with a multi-line message cut before its stack trace."""

    def format(self, record: logging.LogRecord) -> str:
        meta = getattr(record, "dagster_meta", None) or {}
        message = meta.get("orig_message") or record.getMessage()
        if "\nStack Trace:" in message:
            message = message.split("\nStack Trace:")[0].rstrip()
        message = " ".join(line.strip().removeprefix(FAILURE_PREFIX)
                           for line in message.splitlines() if line.strip())
        step = meta.get("step_key") or meta.get("job_name") or ""
        when = self.formatTime(record, "%H:%M:%S")
        return f"{when} {record.levelname:<7} {step + ' - ' if step else ''}{message}"


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a record arrives, not the one of the first run:
    the logger lives for the whole process, and a caller that swapped stderr for a run (a test
    runner, an embedding tool) closed it afterwards ("I/O operation on closed file")."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


@dg.logger(config_schema={"log_level": dg.Field(str, default_value="INFO")},
           description="Readable run log for the terminal: one line per event, no stack traces.")
def terminal_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    log = logging.getLogger("rakuten.run")
    log.setLevel(init_context.logger_config["log_level"].upper())
    log.propagate = False
    if not log.handlers:
        handler = _CurrentStderr()
        handler.setFormatter(_FirstLines())
        log.addHandler(handler)
    return log
