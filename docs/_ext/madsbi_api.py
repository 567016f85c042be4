"""Sphinx extension of the madsbi docs: each API object documented once, at its public name.

A package re-exports names from its modules (``madsbi.inference.RateModel`` is defined in
``madsbi.inference.likelihood``). The reference documents every object once, under the name
users import it by (the first package of :data:`API_PACKAGES` whose ``__all__`` has it;
otherwise the module that defines it), and a module page lists what it defines with a link
to that page. :func:`public_names` computes the map for the autosummary templates, and
:func:`resolve_alias` lets a docstring refer to an object by any name under which a
documented module holds it (``madsbi.inference.likelihood.expected_events``, or
``expected_events`` in a module that imports it): the reference resolves only if that
name really is the documented object, so a misspelt reference stays an error.

Attributes of a class that are documented in its numpydoc ``Attributes`` section (dataclass
fields) have no targets of their own; ``:attr:`Class.field``` resolves to the class's page
if the class has that field.

Four more repairs, each narrow:

- **Objects of other packages** (numpy, torch, the standard library) have no inventory
  offline (no intersphinx); a reference to one that exists (it imports) is shown as code,
  not a link. A reference to one that does not exist stays an error.
- **Plain text**: docstrings and command help write |η| and |M|² as plain text and use no
  reST substitutions, and MadGraph5_aMC@NLO is no e-mail address, so a ``|`` or ``@``
  outside literals, roles, literal blocks and tables is escaped.
- **Private base classes** (``_MorphingBase``) are shown as the public bases they stand for.
- **Summaries**: autosummary cuts the first sentence at ". " even inside an inline literal
  (``start .. stop``) or after "eq.", and checks the whole paragraph instead of the cut; the
  cut is extended until it parses cleanly, as autosummary intends.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import inspect
import pkgutil
import re
import types
import typing
from collections.abc import Iterator
from typing import Any

import sphinx.ext.autosummary as autosummary
from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.pycode import ModuleAnalyzer

#: Packages documented with all their public submodules, in order of preference for the
#: public name of a re-exported object.
API_PACKAGES = (
    "madsbi.theory",
    "madsbi.events",
    "madsbi.simulate",
    "madsbi.processes",
    "madsbi.nn",
    "madsbi.estimators",
    "madsbi.inference",
    "madsbi.generative",
    "madsbi.analysis",
    "madsbi.madgraph",
    "madsbi.production",
)
#: Single modules documented on their own.
API_MODULES = ("madsbi.errors", "madsbi.config", "madsbi.cards")
ROOT = "madsbi"


def documented_modules() -> list[str]:
    """Every module with a page: the packages, their public submodules, the single modules."""
    names: list[str] = [ROOT]
    for package_name in API_PACKAGES:
        package = importlib.import_module(package_name)
        names.append(package_name)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
            if any(part.startswith("_") for part in info.name.split(".")):
                continue
            names.append(info.name)
    names.extend(API_MODULES)
    return names


def _documentable(value: Any) -> bool:
    return (inspect.isclass(value) or inspect.isfunction(value)) and str(
        getattr(value, "__module__", "")
    ).startswith(f"{ROOT}.")


def _is_data(value: Any) -> bool:
    return not (inspect.isclass(value) or inspect.isroutine(value) or inspect.ismodule(value))


def _is_type(value: Any) -> bool:
    return (
        isinstance(value, (types.GenericAlias, typing.TypeVar)) or "Alias" in type(value).__name__
    )


@functools.cache
def type_aliases() -> dict[str, dict[str, Any]]:
    """The documented type aliases (``ParamChange = tuple[...]``): their comment and value.

    autodoc fails on some of them (``tuple[int, ...]``), so the template writes them as
    ``py:data`` with the ``#:`` comment and the alias spelled out.
    """
    out: dict[str, dict[str, Any]] = {}
    for module_name, names in module_data().items():
        module = importlib.import_module(module_name)
        docs = ModuleAnalyzer.for_module(module_name).find_attr_docs()
        for name in names:
            value = getattr(module, name)
            if _is_type(value):
                lines = [line for line in docs.get(("", name), []) if line.strip()]
                out[f"{module_name}.{name}"] = {"doc": lines, "value": repr(value)}
    return out


def _attr_docs(module_name: str) -> set[tuple[str, str]]:
    return set(ModuleAnalyzer.for_module(module_name).find_attr_docs())


@functools.cache
def module_data() -> dict[str, list[str]]:
    """The public data of every documented module (constants, type aliases), in source order.

    A module with ``__all__`` contributes the data names it lists; another module, the
    public names it assigns at top level that have a ``#:`` comment or are constants
    (UPPER_CASE). An undocumented type alias (``U64 = npt.NDArray[np.uint64]``) is left out.
    """
    out: dict[str, list[str]] = {}
    for module_name in documented_modules():
        module = importlib.import_module(module_name)
        exported = getattr(module, "__all__", None)
        source = inspect.getsource(module) if module.__file__ else ""
        assigned: list[str] = []
        for statement in ast.parse(source).body:
            targets: list[ast.expr] = []
            if isinstance(statement, ast.Assign):
                targets = list(statement.targets)
            elif isinstance(statement, ast.AnnAssign):
                targets = [statement.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id not in assigned:
                    assigned.append(target.id)
        if exported is not None:
            names = [n for n in exported if hasattr(module, n) and _is_data(getattr(module, n))]
        else:
            commented = {name for (scope, name) in _attr_docs(module_name) if not scope}
            names = [
                n
                for n in assigned
                if not n.startswith("_")
                and hasattr(module, n)
                and _is_data(getattr(module, n))
                and (n in commented or (n.isupper() and not _is_type(getattr(module, n))))
            ]
        if names:
            out[module_name] = names
    return out


def _exports(module: Any) -> Iterator[tuple[str, Any]]:
    for name in getattr(module, "__all__", ()):
        value = getattr(module, name, None)
        if _documentable(value):
            yield name, value


@functools.cache
def public_names() -> dict[str, str]:
    """Map every ``module.name`` under which a documented module holds an object to its page.

    Returns
    -------
    dict of str to str
        ``"madsbi.inference.likelihood.RateModel" -> "madsbi.inference.RateModel"``, and
        ``"madsbi.inference.RateModel"`` to itself.
    """
    modules = documented_modules()
    documented = set(modules)
    public: dict[int, str] = {}
    for package_name in API_PACKAGES:
        for name, value in _exports(importlib.import_module(package_name)):
            public.setdefault(id(value), f"{package_name}.{name}")
    for module_name in modules:
        module = importlib.import_module(module_name)
        for name, value in vars(module).items():
            if name.startswith("_") or not _documentable(value):
                continue
            if value.__module__ == module_name and module_name in documented:
                public.setdefault(id(value), f"{module_name}.{value.__qualname__}")
    for name, value in _exports(importlib.import_module(ROOT)):
        public.setdefault(id(value), f"{ROOT}.{name}")

    aliases: dict[str, str] = {}
    for module_name in modules:
        module = importlib.import_module(module_name)
        for name, value in vars(module).items():
            if _documentable(value) and id(value) in public:
                aliases[f"{module_name}.{name}"] = public[id(value)]
    # the lazy re-export of the package root
    load_analysis = importlib.import_module("madsbi.analysis").load_analysis
    aliases[f"{ROOT}.load_analysis"] = public[id(load_analysis)]
    return aliases


def _lookup(dotted: str) -> Any:
    """The object at a dotted path, or None."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            if not hasattr(value, part):
                return None
            value = getattr(value, part)
        return value
    return None


def _has_field(owner: Any, name: str) -> bool:
    if not inspect.isclass(owner):
        return False
    if dataclasses.is_dataclass(owner) and name in {f.name for f in dataclasses.fields(owner)}:
        return True
    return any(name in getattr(base, "__annotations__", {}) for base in owner.__mro__)


def _candidates(node: pending_xref, target: str) -> list[str]:
    """Full names that ``target`` may stand for where the reference is written.

    The docstring of an object documented at its public name (``madsbi.estimators.
    TrainingConfig``) is written in its defining module (``madsbi.estimators.trainer``), so
    names relative to that module count too; the object is the page's own (its docname).
    """
    module = node.get("py:module")
    cls = node.get("py:class")
    out = [target]
    if module:
        out.append(f"{module}.{target}")
        if cls:
            out.append(f"{module}.{cls}.{target}")
    page = str(node.get("refdoc", "")).rsplit("/", 1)[-1]
    for owner_name in (_row_object(node), page):
        owner = _lookup(owner_name) if owner_name.startswith(f"{ROOT}.") else None
        if owner is None or inspect.ismodule(owner):
            continue
        defining = getattr(owner, "__module__", None)
        if isinstance(defining, str) and defining.startswith(f"{ROOT}."):
            out.append(f"{defining}.{target}")
            if inspect.isclass(owner):
                out.append(f"{defining}.{owner.__qualname__}.{target}")
    return out


def _row_object(node: nodes.Node) -> str:
    """The object an autosummary row describes, if ``node`` is in its summary."""
    row = node.parent
    while row is not None and not isinstance(row, nodes.row):
        row = row.parent
    if row is None:
        return ""
    for found in row.findall(lambda n: isinstance(n, (pending_xref, nodes.reference))):
        if found is node:
            return ""
        name = found.get("reftarget") or found.get("reftitle") or ""
        return str(name)
    return ""


def resolve_alias(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: nodes.Element
) -> nodes.Element | None:
    """Resolve a Python reference written with another name of a documented object."""
    if node.get("refdomain") != "py":
        return None
    domain = env.get_domain("py")
    target = node["reftarget"]
    reftype = node["reftype"]
    for candidate in _candidates(node, target):
        head, _, tail = candidate.rpartition(".")
        public = public_names().get(candidate)
        if public is None and head in public_names() and tail:
            # a method or attribute of a re-exported class
            owner = _lookup(head)
            if owner is not None and hasattr(owner, tail):
                public = f"{public_names()[head]}.{tail}"
        whole = _lookup(candidate) if public is None else None
        if inspect.ismodule(whole) and whole.__name__ != candidate:
            public = whole.__name__
        if public is None and head:
            # a name reached through a module that the docstring's module imports
            # (``schema.EVENT_GROUPS``, ``digest``)
            owner = _lookup(head)
            if inspect.ismodule(owner) and owner.__name__ != head:
                public = f"{owner.__name__}.{tail}"
        for name in (candidate, public):
            if name is None or name == target:
                continue
            found = domain.resolve_xref(
                env, node["refdoc"], app.builder, reftype, name, node, contnode
            )
            if found is not None:
                return found
        if reftype == "attr" and head:
            owner_name = public_names().get(head, head)
            if _has_field(_lookup(head), tail):
                found = domain.resolve_xref(
                    env, node["refdoc"], app.builder, "class", owner_name, node, contnode
                )
                if found is not None:
                    return found
    return None


def resolve_external(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: nodes.Element
) -> nodes.Element | None:
    """Show a reference to an existing object of another package as code (no inventory)."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    top = target.split(".")[0]
    if "." not in target or top == ROOT or top.startswith("_"):
        return None
    if _lookup(target) is None:
        return None
    return contnode


_LITERAL_OR_ROLE = re.compile(r"(``.+?``|:[\w:.-]+:`[^`]*`|`[^`]*`_{0,2})")


def _escape_bars(line: str) -> str:
    parts = _LITERAL_OR_ROLE.split(line)
    return "".join(
        part if index % 2 else part.replace("|", "\\|").replace("@", "\\@")
        for index, part in enumerate(parts)
    )


def escape_absolute_values(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """Escape ``|`` (absolute values |η|, |M|²) and ``@`` (MadGraph5_aMC@NLO) in plain text."""
    literal_indent: int | None = None
    for index, line in enumerate(lines):
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if literal_indent is not None:
            if stripped and indent <= literal_indent:
                literal_indent = None
            else:
                continue
        if line.rstrip().endswith("::"):
            literal_indent = indent
        table_or_block = stripped == "|" or stripped.startswith(("| ", "+-", "+=", ">>>", "... "))
        if table_or_block or ("|" not in line and "@" not in line):
            continue
        lines[index] = line[:indent] + _escape_bars(stripped)


def escape_click_text(app: Sphinx, ctx: Any, lines: list[str]) -> None:
    """The same escapes in the help text of a ``madsbi`` command (sphinx-click)."""
    escape_absolute_values(app, "click", "", None, None, lines)


def public_bases(app: Sphinx, name: str, obj: Any, options: Any, bases: list[Any]) -> None:
    """Show a private base class (``_MorphingBase``) as the public bases it stands for."""
    out: list[Any] = []
    pending = list(bases)
    while pending:
        base = pending.pop(0)
        if inspect.isclass(base) and base.__name__.startswith("_") and base is not object:
            pending[:0] = list(base.__bases__)
        elif base not in out and base is not object:
            out.append(base)
    bases[:] = out


_original_extract_summary = autosummary.extract_summary
#: Abbreviations after which a sentence does not end ("eq. 49", "Sec. 4.2").
_ABBREVIATIONS = (" eq.", " eqs.", " Eq.", " Sec.", " Fig.", " Figs.", " App.", " Tab.", " cf.")


def extract_summary(doc: list[str], settings: Any) -> str:
    """Autosummary's first sentence, extended until its markup and parentheses close.

    Autosummary cuts at the first ". ", even inside ``start .. stop`` or after "eq.", and
    checks the whole paragraph rather than the cut; here the cut grows sentence by sentence
    until it parses cleanly, its parentheses balance and it does not end in an abbreviation.
    """
    summary = _original_extract_summary(doc, settings)
    stanza: list[str] = []
    for line in doc:
        if not line.strip():
            if stanza:
                break
            continue
        stanza.append(line.strip())
    sentences = autosummary.periods_re.split(" ".join(stanza))
    if len(sentences) < 2:
        return summary
    for count in range(1, len(sentences) + 1):
        candidate = ". ".join(sentences[:count]).rstrip(".") + "."
        if candidate.endswith(_ABBREVIATIONS) or candidate.count("(") > candidate.count(")"):
            continue
        node = autosummary._parse_summary([candidate], settings)
        if not any(node.findall(nodes.system_message)):
            return autosummary.literal_re.sub(".", candidate)
    return summary


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the handlers; the map of public names is computed once per build."""
    public_names()
    autosummary.extract_summary = extract_summary
    app.connect("missing-reference", resolve_alias)
    app.connect("missing-reference", resolve_external, priority=900)
    app.connect("autodoc-process-docstring", escape_absolute_values, priority=100)
    app.connect("autodoc-process-bases", public_bases)
    app.connect("sphinx-click-process-description", escape_click_text)
    app.connect("sphinx-click-process-epilog", escape_click_text)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
