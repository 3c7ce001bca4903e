"""Plain-text e-mails from Jinja2 templates: one file per e-mail with a subject and a body block."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template

# Plain text, so nothing is HTML-escaped; a missing context value is an error, not a blank.
_environment = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=False,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)

SUBJECT_MAX_LENGTH = 300


@dataclass(frozen=True, slots=True)
class RenderedMail:
    subject: str
    body: str


def one_line(text: str) -> str:
    """The text with every run of whitespace, line breaks included, made one space: a value
    in the subject cannot start a header of its own."""
    return " ".join(text.split())[:SUBJECT_MAX_LENGTH]


def _block(template: Template, name: str, context: dict[str, Any]) -> str:
    return "".join(template.blocks[name](template.new_context(context)))


def render_mail(template_name: str, context: dict[str, Any], *, base_url: str) -> RenderedMail:
    """The subject and body of `templates/<template_name>.txt`; links start with `base_url`."""
    template = _environment.get_template(f"{template_name}.txt")
    values = {**context, "base_url": base_url.rstrip("/")}
    return RenderedMail(
        subject=one_line(_block(template, "subject", values)),
        body=_block(template, "body", values).strip() + "\n",
    )
