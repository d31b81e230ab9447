"""Finds user-facing string literals in Python that are not marked for translation (SPEC §15).

cpor/tests/test_i18n.py fails on any. The rules are few and explicit: a string literal (or f-string) given as
- the message of ``messages.<level>(request, ...)``, of ``self.message_user(request, ...)`` or of
  ``ValidationError(...)``;
- ``label=``, ``help_text=``, ``verbose_name=``, ``verbose_name_plural=``, ``description=``, ``empty_label=``,
  ``violation_error_message=``, ``site_header``/``site_title``/``index_title``, or a model field's first
  positional argument (its verbose name);
- a value of an ``error_messages`` dict, or the label of a ``choices=`` pair;
- the label of a TextChoices/IntegerChoices member, a ``Meta.verbose_name``, or a list filter's ``title``.
A mark is a call to gettext, gettext_lazy, pgettext, ngettext, their lazy forms or ``_``.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["claims", "associations", "cpor"]
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
MESSAGE_LEVELS = {"debug", "info", "success", "warning", "error", "add_message"}


def _is_text(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(node.value.strip())
    return isinstance(node, ast.JoinedStr)


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


class _Scanner(ast.NodeVisitor):
    def __init__(self):
        self.found = []

    def _flag(self, node, why):
        self.found.append((node.lineno, why))

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
        if name == "ValidationError" and node.args and _is_text(node.args[0]):
            self._flag(node.args[0], "ValidationError")
        if _is_field_call(node) and node.args and _is_text(node.args[0]):
            self._flag(node.args[0], f"{name} verbose name")
        for keyword in node.keywords:
            if keyword.arg in KEYWORDS and _is_text(keyword.value):
                self._flag(keyword.value, f"{keyword.arg}=")
            if keyword.arg == "error_messages" and isinstance(keyword.value, ast.Dict):
                for value in keyword.value.values:
                    if _is_text(value):
                        self._flag(value, "error_messages")
            if keyword.arg == "choices":
                for label in _choice_labels(keyword.value):
                    self._flag(label, "choices label")
        self.generic_visit(node)

    def visit_Assign(self, node):
        for target in node.targets:
            attr = (
                target.attr if isinstance(target, ast.Attribute) else target.id if isinstance(target, ast.Name) else ""
            )
            if attr in ATTRIBUTES and _is_text(node.value):
                self._flag(node.value, attr)
            if attr == "error_messages" and isinstance(node.value, ast.Dict):
                for value in node.value.values:
                    if _is_text(value):
                        self._flag(value, "error_messages")
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
    """[(line, rule)] for every user-facing literal of ``source`` not marked."""
    scanner = _Scanner()
    scanner.visit(ast.parse(source, filename=filename))
    return scanner.found


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
