"""Filters of the stack: what a failed no_log task tells the operator.

A task that handles a secret runs with no_log, so Ansible hides its whole result when it fails ("the output
has been hidden") or gives only the module's own message ("non-zero return code", "failed to validate"). The
rescue of such a task fails again with `failure_text`: the return code and the last lines the command or the
validator wrote, with every secret the caller names, and every password in a URL, replaced by ********.
"""

import json
import re
from urllib.parse import quote, quote_plus

MASK = "********"
# Module messages that say no more than that the command failed.
_GENERIC = ("non-zero return code", "failed to validate")
# scheme://user:password@host: the password part of any URL (a SQLAlchemy or Redis URI in a message).
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)(?P<password>[^@\s]+)(?P<tail>@)")


def redact(text, secrets=()):
    """`text` with each secret (as given and URL-quoted) and every URL's password replaced by ********."""
    text = str(text)
    forms = set()
    for secret in secrets or ():
        if secret is None or not str(secret):
            continue
        secret = str(secret)
        forms.update({secret, quote(secret, safe=""), quote_plus(secret), quote(secret)})
    # The longest first, so that a secret containing another is masked whole.
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}{MASK}{m.group('tail')}", text)


def failure_text(result, secrets=(), lines=6):
    """One line for an operator about a failed task's result (a registered result or ansible_failed_result):
    its return code, its module message and the last `lines` lines of what it wrote (stderr, or stdout when
    stderr is empty), every secret in `secrets` and every URL password masked. A result whose command's last
    stdout line is a JSON object with an "error" member (the stack's own tools print one) gives that error."""
    if not isinstance(result, dict):
        return redact(result, secrets)
    parts = []
    if result.get("rc") not in (None, 0):
        parts.append(f"exit code {result['rc']}")
    stdout = str(result.get("stdout") or "").strip()
    stderr = str(result.get("stderr") or "").strip()
    error = None
    if stdout:
        try:
            last = json.loads(stdout.splitlines()[-1])
        except ValueError:
            last = None
        if isinstance(last, dict) and last.get("error"):
            error = str(last["error"])
    message = str(result.get("msg") or "").strip()
    written = stderr or stdout
    if error:
        parts.append(error)
    elif written:
        if message and message not in _GENERIC:
            parts.append(message)
        parts.append(" | ".join(line.strip() for line in written.splitlines()[-int(lines):] if line.strip()))
    else:
        parts.append(message or "no output")
    return redact(": ".join(parts), secrets)


class FilterModule:
    """The stack's filters (taskstack.stack.*)."""

    def filters(self):
        return {
            "redact": redact,
            "failure_text": failure_text,
        }
