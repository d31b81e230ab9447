"""Finds user-facing string literals in Python that are not marked for translation (SPEC §15).

cpor/tests/test_i18n.py fails on any. The rules are few and explicit: a string literal (or f-string) given as
- the message of ``messages.<level>(request, ...)``, of ``self.message_user(request, ...)``, of a form's
  ``add_error(field, ...)``, or of an exception whose words a page shows (``ValidationError`` and
  SHOWN_EXCEPTIONS: ``raise PoeStorageError("...")``);
- ``label=``, ``help_text=``, ``verbose_name=``, ``verbose_name_plural=``, ``description=``, ``empty_label=``,
  ``violation_error_message=``, ``site_header``/``site_title``/``index_title``, or a model field's first
  positional argument (its verbose name); the same attributes assigned (``self.fields[x].help_text = ...``);
- a value of an ``error_messages`` dict (``error_messages={...}``, ``error_messages = {...}``) or one of its items
  assigned (``field.error_messages["required"] = ...``), or the label of a ``choices=`` pair;
- the label of a TextChoices/IntegerChoices member, a ``Meta.verbose_name``, or a list filter's ``title``;
- prose (two or more words of letters, beginning with a capital or ending as a sentence does) as a value of any
  dict (``REQUIRED = {"name": "Enter the name."}``: dicts of messages looked up later) or assigned to an item
  (``errors["name"] = "Enter the name."``).
A mark is a call to gettext, gettext_lazy, pgettext, ngettext, their lazy forms or ``_``. Prose that no partner,
customer or reviewer reads in the app (demo data, a machine's JSON answer) says so with ``# i18n: English only``
and why, on its line.
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["claims", "associations", "api", "cpor"]
KEYWORDS = {
    "label",
    "help_text",
    "verbose_name",
    "verbose_name_plural",
    "description",
    "empty_label",
    "violation_error_message",
}
ATTRIBUTES = {"site_header", "site_title", "index_title", "verbose_name", "verbose_name_plural", "title"}
# Attributes of a form field set after it is made (``self.fields[name].help_text = ...``).
FIELD_ATTRIBUTES = {"label", "help_text", "empty_label"}
MESSAGE_LEVELS = {"debug", "info", "success", "warning", "error", "add_message"}
# Exceptions whose message a view puts on the page (besides ValidationError).
SHOWN_EXCEPTIONS = {"ValidationError", "PoeStorageError", "PartnerActionRefused", "AnswerRefused", "PoeQuotaExceeded"}
NOT_SHOWN = "# i18n: English only"
_PROSE_WORDS = re.compile(r"[A-Za-z]+(?:['\u2019][A-Za-z]+)*[,:;]?\s+[A-Za-z]+")


def _is_text(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(node.value.strip())
    return isinstance(node, ast.JoinedStr)


def _literal_text(node):
    """The text of a string literal, or of an f-string's literal parts (each value as a space)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else " " for part in node.values)
    return ""


def _is_prose(node):
    """Words a person reads: two words of letters or more, beginning with a capital or ending as a sentence."""
    text = _literal_text(node).strip()
    if not text or not _PROSE_WORDS.search(text) or not re.search("[a-z]", text):
        return False
    return text[0].isupper() or text.endswith((".", "?", "!", ":"))


def _is_field_call(node):
    func = node.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr.endswith("Field")
        and isinstance(func.value, ast.Name)
        and func.value.id in {"models", "forms"}
    )


def _choice_labels(node):
    if isinstance(node, ast.List | ast.Tuple):
        for element in node.elts:
            if isinstance(element, ast.Tuple) and len(element.elts) == 2 and _is_text(element.elts[1]):
                yield element.elts[1]


def _attribute_name(node):
    return node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""


class _Scanner(ast.NodeVisitor):
    def __init__(self, lines=()):
        self.found = []
        self.lines = lines
        self._error_dicts = set()

    def _flag(self, node, why):
        line = self.lines[node.lineno - 1] if node.lineno <= len(self.lines) else ""
        if NOT_SHOWN not in line and (node.lineno, why) not in self.found:
            self.found.append((node.lineno, why))

    def _error_messages(self, node):
        if isinstance(node, ast.Dict):
            self._error_dicts.add(id(node))
            for value in node.values:
                if _is_text(value):
                    self._flag(value, "error_messages")

    def visit_Call(self, node):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
        if owner == "messages" and name in MESSAGE_LEVELS:
            args = node.args[2:3] if name == "add_message" else node.args[1:2]
            for arg in args:
                if _is_text(arg):
                    self._flag(arg, f"messages.{name}")
        if name == "message_user" and len(node.args) > 1 and _is_text(node.args[1]):
            self._flag(node.args[1], "message_user")
        if name in SHOWN_EXCEPTIONS and node.args and _is_text(node.args[0]):
            self._flag(node.args[0], name)
        if name == "add_error" and len(node.args) > 1 and _is_text(node.args[1]):
            self._flag(node.args[1], "add_error")
        if _is_field_call(node) and node.args and _is_text(node.args[0]):
            self._flag(node.args[0], f"{name} verbose name")
        for keyword in node.keywords:
            if keyword.arg in KEYWORDS and _is_text(keyword.value):
                self._flag(keyword.value, f"{keyword.arg}=")
            if keyword.arg == "error_messages":
                self._error_messages(keyword.value)
            if keyword.arg == "choices":
                for label in _choice_labels(keyword.value):
                    self._flag(label, "choices label")
        self.generic_visit(node)

    def visit_Assign(self, node):
        for target in node.targets:
            attr = _attribute_name(target)
            if attr in ATTRIBUTES and _is_text(node.value):
                self._flag(node.value, attr)
            if isinstance(target, ast.Attribute) and attr in FIELD_ATTRIBUTES and _is_text(node.value):
                self._flag(node.value, f".{attr}")
            if attr == "error_messages":
                self._error_messages(node.value)
            if isinstance(target, ast.Subscript):
                if _attribute_name(target.value) == "error_messages" and _is_text(node.value):
                    self._flag(node.value, "error_messages[...]")
                elif _is_prose(node.value):
                    self._flag(node.value, "[...] =")
        self.generic_visit(node)

    def visit_Dict(self, node):
        if id(node) not in self._error_dicts:
            for value in node.values:
                if value is not None and _is_prose(value):
                    self._flag(value, "dict value")
        self.generic_visit(node)

    def visit_ClassDef(self, node):
        bases = {b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "") for b in node.bases}
        if bases & {"TextChoices", "IntegerChoices", "Choices"}:
            for statement in node.body:
                if (
                    isinstance(statement, ast.Assign)
                    and isinstance(statement.value, ast.Tuple)
                    and len(statement.value.elts) == 2
                    and _is_text(statement.value.elts[1])
                ):
                    self._flag(statement.value.elts[1], f"{node.name} label")
        self.generic_visit(node)


def unmarked_in_source(source, filename="<source>"):
    """[(line, rule)] for every user-facing literal of ``source`` not marked, in the order of the source."""
    scanner = _Scanner(source.splitlines())
    scanner.visit(ast.parse(source, filename=filename))
    return sorted(scanner.found, key=lambda found: found[0])


def unmarked_strings():
    """[(path relative to the repository, line, rule)] for every user-facing literal not marked."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if {"tests", "migrations", "management"} & set(relative.parts) or path.name in {
                "i18n_scan.py",
                "test_settings.py",
            }:
                continue
            found += [(str(relative), line, why) for line, why in unmarked_in_source(path.read_text(), str(path))]
    return found


# English left in a page, a form's errors or an email shown in another language: a run of two or more words of
# Latin letters. Names are not sentences: the brand and product names below (and a caller's own data: a claim's
# name, a person's) are taken out first, as are addresses, URLs, file names, ids and codes (a word with a digit,
# a dot, an @, a slash or an underscore in it).
BRAND_NAMES = (
    "Microsoft 365",
    "Microsoft Entra",
    "Business Applications",
    "OSU-Business Applications",
    "OSU-Microsoft 365",
    "Dynamics 365",
)
_CODE = re.compile(r"\S*(?:[\d@/_\\]|\.\w)\S*")
_WORD = r"[A-Za-z]+(?:['\u2019][A-Za-z]+)*"
_ENGLISH_RUN = re.compile(rf"(?<![\w-]){_WORD}(?:[ \t\u00a0]+{_WORD})+(?![\w-])")


def english_runs(text, allow=()):
    """The runs of two or more English words in ``text`` (already plain text: no markup), once each, in order.

    ``allow``: names the text may hold as they are (product names, a claim's name, a company's, a person's); each
    is taken out, longest first, with BRAND_NAMES and the catalog's product names."""
    from associations.catalog import BIZAPPS_PRODUCTS, M365_WORKLOADS

    names = {*BRAND_NAMES, *(name for _code, name in M365_WORKLOADS), *(row[1] for row in BIZAPPS_PRODUCTS)}
    names |= {name for name in allow if name}
    for name in sorted(names, key=len, reverse=True):
        text = text.replace(name, " · ")
    text = _CODE.sub(" · ", text)
    found = []
    for match in _ENGLISH_RUN.finditer(text):
        run = " ".join(match.group().split())
        if run not in found:
            found.append(run)
    return found
