"""The restricted evaluator for everything a diagram can compute.

Gateway conditions, assignee/candidate expressions, timer expressions, multi-instance
completion conditions, service-task parameters and script tasks all run here, never in
Python's ``eval``/``exec`` (ENGINE-NOTES trap 2).

How it works
------------
The source is parsed with :func:`ast.parse` and every node is checked against a whitelist
*before* anything runs (so a deploy can reject a diagram).  Evaluation is a small tree-walking
interpreter written here: Python objects are only ever reached through this interpreter, so
there is no path to ``__class__``, ``__subclasses__``, frames, ``__import__`` or ``open``.

* Names: the data of the task, then a few safe functions (``len``, ``min``, ``Decimal``,
  ``now`` ...).  Names starting with ``_`` are refused.
* Attributes: only a fixed list per data type (``str.lower``, ``dict.get``, ``date.year``...).
  A dict also answers ``customer.province`` with its key (Camunda EL style).  No
  ``str.format``/``format_map`` (they reach attributes through format fields), no ``%``
  formatting of strings, no lambdas, no generators (a generator expression is evaluated
  eagerly to a list), no ``while``, ``def``, ``class``, ``import``, ``try``, ``with``.
* CPU: every node evaluated counts as a step (``max_steps``) and the thread's CPU time is
  checked against a deadline (``time_limit``); since no single operation is unbounded (see below),
  a runaway script is stopped within a few milliseconds of its deadline.  No signals or
  threads are used, so it is safe inside a threaded web server.
* Memory: operations that can build big values are checked *before* they run: ``int ** int``
  by the size of the result in bits, ``seq * n`` and ``seq + seq`` and
  ``str.replace``/``str.join`` by the length of the result, ``range`` by its length, ``int()``
  of a huge Decimal; every sized value produced is charged to a per-evaluation allocation
  budget (``max_alloc``).

Expression dialects accepted
----------------------------
* Python expression syntax (``province == '福建' and registered_capital >= 10_000_000``).
* Camunda EL wrappers ``${...}`` / ``#{...}``, with ``&&``, ``||``, ``!``, ``true``,
  ``false``, ``null`` translated, so diagrams from Camunda Modeler run unchanged.
* An empty field (``None``) compares as neither more nor less than anything and contains
  nothing (FEEL and SQL do the same): ``amount >= 0`` and ``'福建' in province`` are false for
  a record where nobody filled them in, instead of stopping the process with a type error.
* Unquoted ISO-8601 literals for timers: durations (``P3D``, ``PT1H``), dates and datetimes
  (``2026-12-01T10:00:00Z``) and repeating intervals (``R3/PT1H``) evaluate to themselves.

Script language (script tasks)
------------------------------
A statement subset of Python: assignments (``x = ...``, ``a[k] = ...``, ``x += 1``, tuple
unpacking), ``if``/``elif``/``else``, ``for ... in`` over a bounded iterable with
``break``/``continue``, ``pass``, ``del`` and expression statements (``items.append(x)``).
No ``while`` (use ``for i in range(n)``), no function or class definitions.  Variables are the
task data: an assignment writes the task's data directly.  Only plain data may be stored
(None, bool, int, float, str, Decimal, date, datetime, timedelta, lists, tuples and dicts of
them, at most 32 levels deep; sets are stored as lists; a dict key ``typename`` is refused
because the serializer would treat it as a type tag).
"""
from __future__ import annotations

import ast
import builtins
import math
import re
import time
from collections import ChainMap
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

__all__ = [
    "ExpressionError",
    "ForbiddenExpression",
    "ExpressionLimitExceeded",
    "Limits",
    "compile_expression",
    "compile_script",
    "evaluate",
    "execute",
    "check_data",
    "ISO_LITERAL",
]


class ExpressionError(Exception):
    """Any failure of a restricted expression or script, with the line it happened on."""

    def __init__(self, message: str, line: int | None = None, offset: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.offset = offset

    def __str__(self):
        if self.line is None:
            return str(self.message)
        return _("%(message)s (line %(line)d)", message=self.message, line=self.line)


class UnknownName(ExpressionError):
    """A variable the data does not hold (``name`` is which)."""

    def __init__(self, message: str, name: str, line: int | None = None):
        super().__init__(message, line)
        self.name = name


class MismatchedOperands(ExpressionError):
    """Values of kinds that do not go together (text compared with a number)."""


class ForbiddenExpression(ExpressionError):
    """The source uses a construct the sandbox does not allow (found before running)."""


class ExpressionLimitExceeded(ExpressionError):
    """A time, step or size limit stopped the evaluation."""


@dataclass(frozen=True)
class Limits:
    time_limit: float = 0.5  # seconds of this thread's CPU time per evaluation
    max_steps: int = 200_000  # AST nodes evaluated per evaluation
    max_len: int = 500_000  # characters/elements of any one value
    max_alloc: int = 5_000_000  # characters/elements produced in total per evaluation
    max_int_bits: int = 64_000  # about 19,000 decimal digits
    max_source: int = 20_000  # characters of source
    max_depth: int = 60  # nesting of the syntax tree
    max_data_depth: int = 32  # nesting of data stored by a script
    max_stored: int = 2_000_000  # characters/elements of one value stored in process data


DEFAULT_LIMITS = Limits()

# ISO-8601 literals a designer writes unquoted in timers (trap 7).
_DURATION = r"P(?!$)(\d+(\.\d+)?Y)?(\d+(\.\d+)?M)?(\d+(\.\d+)?W)?(\d+(\.\d+)?D)?(T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?"
_DATETIME = r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?"
ISO_LITERAL = re.compile(
    rf"^(?:{_DURATION}|{_DATETIME}|R\d*/(?:{_DURATION}|{_DATETIME})(?:/(?:{_DURATION}|{_DATETIME}))?)$"
)
_EL_WRAPPER = re.compile(r"^[$#]\{(.*)\}$", re.S)


# --------------------------------------------------------------------------- compile

_EXPR_NODES = (
    ast.Expression, ast.Constant, ast.Name, ast.Load, ast.BinOp, ast.UnaryOp, ast.BoolOp,
    ast.Compare, ast.IfExp, ast.Call, ast.keyword, ast.Attribute, ast.Subscript, ast.Slice,
    ast.List, ast.Tuple, ast.Dict, ast.Set, ast.ListComp, ast.SetComp, ast.DictComp,
    ast.GeneratorExp, ast.comprehension, ast.JoinedStr, ast.FormattedValue, ast.Store,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.And, ast.Or, ast.Not,
    ast.USub, ast.UAdd, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is,
    ast.IsNot,
)
# Neither Camunda's EL nor FEEL has them; in a condition they are typos that run: 35 >> 30 is 0,
# and "a > 1 & b" compares a with 1 & b. Refused at the check instead of routing wrong.
_BIT_OPERATORS = (ast.LShift, ast.RShift, ast.BitOr, ast.BitAnd, ast.BitXor, ast.Invert)
_STMT_NODES = (
    ast.Module, ast.Assign, ast.AugAssign, ast.If, ast.For, ast.Break, ast.Continue,
    ast.Pass, ast.Expr, ast.Delete, ast.Del,
)
# Lazy: translated when raised, in the locale of whoever deploys the diagram.
_FRIENDLY = {
    ast.Lambda: _l("lambda functions are not allowed"),
    ast.Import: _l("imports are not allowed"),
    ast.ImportFrom: _l("imports are not allowed"),
    ast.FunctionDef: _l("function definitions are not allowed"),
    ast.AsyncFunctionDef: _l("function definitions are not allowed"),
    ast.ClassDef: _l("class definitions are not allowed"),
    ast.While: _l("'while' loops are not allowed (use 'for i in range(n)')"),
    ast.With: _l("'with' is not allowed"),
    ast.Try: _l("'try' is not allowed"),
    ast.Raise: _l("'raise' is not allowed"),
    ast.Global: _l("'global' is not allowed"),
    ast.Nonlocal: _l("'nonlocal' is not allowed"),
    ast.Yield: _l("generators are not allowed"),
    ast.YieldFrom: _l("generators are not allowed"),
    ast.Await: _l("'await' is not allowed"),
    ast.NamedExpr: _l("':=' is not allowed"),
    ast.Starred: _l("'*' unpacking is not allowed"),
    **dict.fromkeys(_BIT_OPERATORS, _l("bit operators (<<, >>, &, |, ^, ~) are not allowed: compare with < > <= >=, "
                                       "combine with and, or, not")),
}
_FORMAT_SPEC = re.compile(r"^[<>^=]?[+\- ]?#?0?\d{0,3}[,_]?(\.\d{1,3})?[bcdeEfFgGnosxX%]?$")


@dataclass(frozen=True)
class Program:
    source: str  # what the designer wrote
    tree: ast.AST | None  # None for an ISO literal
    literal: str | None = None
    mode: str = "eval"


def _el_to_python(text: str) -> str:
    """Translate the operators of Camunda's EL that Python spells differently.

    String literals are copied untouched; ``!=`` stays ``!=``.
    """
    out, i, quote = [], 0, None
    while i < len(text):
        ch = text[i]
        if quote:
            out.append(ch)
            if ch == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        elif text.startswith("&&", i):
            out.append(" and ")
            i += 1
        elif text.startswith("||", i):
            out.append(" or ")
            i += 1
        elif ch == "!" and not text.startswith("!=", i):
            out.append(" not ")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


# The functions scripts and conditions may call (the evaluator's table holds their safe versions).
OFFERED_FUNCTIONS = frozenset({
    "len", "abs", "min", "max", "sum", "round", "int", "float", "str", "bool", "list", "tuple", "dict", "set",
    "sorted", "reversed", "enumerate", "zip", "range", "any", "all", "Decimal", "date", "datetime", "timedelta",
    "now", "today",
})
_PYTHON_BUILTINS = frozenset(dir(builtins))


def _check_tree(tree: ast.AST, allowed: tuple, limits: Limits) -> None:
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        line = getattr(node, "lineno", None)
        if depth > limits.max_depth:
            raise ForbiddenExpression(_("expression is nested too deeply"), line)
        if not isinstance(node, allowed):
            friendly = _FRIENDLY.get(type(node))
            message = str(friendly) if friendly is not None else _(
                "'%(construct)s' is not allowed", construct=type(node).__name__)
            raise ForbiddenExpression(message, line)
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise ForbiddenExpression(_("names starting with '_' are not allowed: %(name)s", name=node.id), line)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _PYTHON_BUILTINS
                and node.func.id not in OFFERED_FUNCTIONS):
            # open(), eval(), print() ... would only fail when the step runs: say so at deploy.
            raise ForbiddenExpression(_("%(name)s() is not available here; the functions are: %(offered)s",
                                        name=node.func.id, offered=", ".join(sorted(OFFERED_FUNCTIONS))), line)
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ForbiddenExpression(
                _("attributes starting with '_' are not allowed: %(name)s", name=node.attr), line)
        if isinstance(node, ast.keyword) and node.arg is None:
            raise ForbiddenExpression(_("'**' unpacking is not allowed"), line)
        if isinstance(node, ast.comprehension) and node.is_async:
            raise ForbiddenExpression(_("async comprehensions are not allowed"), line)
        if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
            spec = node.format_spec
            if not (isinstance(spec, ast.JoinedStr) and all(isinstance(v, ast.Constant) for v in spec.values)):
                raise ForbiddenExpression(_("computed format specifications are not allowed"), line)
            text = "".join(v.value for v in spec.values)
            if not _FORMAT_SPEC.match(text):
                raise ForbiddenExpression(_("format specification not allowed: %(spec)s", spec=repr(text)), line)
            continue  # the spec's constants need no further checks
        if isinstance(node, (ast.For, ast.If)) and getattr(node, "orelse", None) and isinstance(node, ast.For):
            raise ForbiddenExpression(_("'for ... else' is not allowed"), line)
        for child in ast.iter_child_nodes(node):
            stack.append((child, depth + 1))


def _prepare(source: str, limits: Limits) -> tuple[str, str | None]:
    if not isinstance(source, str):
        raise ExpressionError(_("expression must be text"))
    if len(source) > limits.max_source:
        raise ExpressionLimitExceeded(_("expression longer than %(n)d characters", n=limits.max_source))
    text = source.strip()
    wrapped = _EL_WRAPPER.match(text)
    if wrapped:
        text = _el_to_python(wrapped.group(1).strip()).strip()
    if ISO_LITERAL.match(text):
        return text, text
    return text, None


def _compile(source: str, mode: str, limits: Limits) -> Program:
    text, literal = _prepare(source, limits)
    if literal is not None:
        return Program(source, None, literal, mode)
    if not text:
        raise ExpressionError(_("empty expression"))
    try:
        tree = ast.parse(text if mode == "eval" else _dedent(text), mode=mode)
    except SyntaxError as exc:
        raise ExpressionError(_syntax_message(exc), exc.lineno, exc.offset) from None
    except (ValueError, MemoryError, RecursionError) as exc:
        raise ExpressionError(_("cannot parse expression: %(error)s", error=str(exc))) from None
    allowed = _EXPR_NODES if mode == "eval" else _EXPR_NODES + _STMT_NODES
    _check_tree(tree, allowed, limits)
    return Program(source, tree, None, mode)


# Python's commonest descriptions of a fault, in the reader's language; others are kept as
# Python says them (English) inside a translated frame.
_SYNTAX_FAULTS = [
    (re.compile(r"^invalid syntax"), _l("something is missing or out of place")),
    (re.compile(r"^'(.)' was never closed"), _l("“%(char)s” is never closed")),
    (re.compile(r"^unmatched '(.)'"), _l("“%(char)s” closes nothing")),
    (re.compile(r"^unterminated string literal"), _l("a text in quotes is not closed")),
    (re.compile(r"^unexpected EOF"), _l("it ends too early")),
]


def _syntax_message(exc: SyntaxError) -> str:
    fault = exc.msg or ""
    for pattern, said in _SYNTAX_FAULTS:
        match = pattern.match(fault)
        if match:
            fault = str(said) % {"char": match.group(1)} if match.groups() else str(said)
            break
    if exc.offset:
        return _("syntax error at character %(offset)d: %(error)s", offset=exc.offset, error=fault)
    return _("syntax error: %(error)s", error=fault)


def _dedent(text: str) -> str:
    # Scripts pasted into the modeler often come indented as a block.
    import textwrap
    return textwrap.dedent(text)


@lru_cache(maxsize=2048)
def _cached(source: str, mode: str, limits: Limits) -> Program:
    return _compile(source, mode, limits)


def variables_of(program: Program) -> tuple[set[str], set[str]]:
    """(the variables ``program`` reads, those it sets), functions and its own loop variables
    aside: what a designer's check compares with what the process holds."""
    read, written, bound = set(), set(), set()
    for node in ast.walk(program.tree) if program.tree is not None else ():
        if isinstance(node, ast.comprehension):
            bound.update(n.id for n in ast.walk(node.target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.For, ast.ExceptHandler)) and isinstance(getattr(node, "target", None), ast.AST):
            bound.update(n.id for n in ast.walk(node.target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else written).add(node.id)
    return read - bound - written - OFFERED_FUNCTIONS, written


def texts_compared(program: Program) -> list[tuple[str, str]]:
    """``(variable, text)`` of each ``variable == 'text'`` (or ``!=``, either way round) in
    ``program``: what a designer's check holds against the values a form's choices store."""
    found = []
    for node in ast.walk(program.tree) if program.tree is not None else ():
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
            left, right = node.left, node.comparators[0]
            for name, text in ((left, right), (right, left)):
                if isinstance(name, ast.Name) and isinstance(text, ast.Constant) and isinstance(text.value, str):
                    found.append((name.id, text.value))
    return found


def compile_expression(source: str, limits: Limits = DEFAULT_LIMITS) -> Program:
    """Parse and check an expression; raises :class:`ExpressionError` if it is not allowed."""
    return _cached(source, "eval", limits)


def compile_script(source: str, limits: Limits = DEFAULT_LIMITS) -> Program:
    """Parse and check a script (statement subset); raises :class:`ExpressionError`."""
    return _cached(source, "exec", limits)


# --------------------------------------------------------------------------- runtime


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


MAX_DECIMAL_EXPONENT = 4000


def _check_decimal_size(value, where: str) -> None:
    """A Decimal is small however large its exponent (1E+1000000): written out as an int or in
    full it takes seconds and megabytes within one call, where the time and size checks never run."""
    if isinstance(value, Decimal) and value.is_finite() and abs(value.adjusted()) > MAX_DECIMAL_EXPONENT:
        raise ExpressionLimitExceeded(_("number too large for %(operation)s", operation=where))


_DATA_SCALARS = (type(None), bool, int, float, str, Decimal, date, datetime, timedelta)


MAX_STORED_INT_BITS = 14_000  # about 4,200 decimal digits: Python writes no longer int as JSON text


def check_data(value, limits: Limits = DEFAULT_LIMITS, _depth: int = 0, _room: list | None = None):
    """Return ``value`` as storable task data or raise :class:`ExpressionError`.

    Sets and tuples become lists; anything that is not plain data is refused, and so is data
    too large to store: every occurrence of a text counts (``[s] * 2000`` of a 100,000-character
    ``s`` is 2,000 references in memory but 200 MB saved), and an integer past the digits JSON
    is written with (``2 ** 60000`` stopped the save with a 500).
    """
    room = _room if _room is not None else [limits.max_stored]
    if _depth > limits.max_data_depth:
        raise ExpressionError("data nested too deeply (or refers to itself)")
    kind = type(value)
    room[0] -= len(value) if kind is str else 1
    if room[0] < 0:
        raise ExpressionLimitExceeded(_("data too large to store (more than %(n)d characters or items)",
                                        n=limits.max_stored))
    if kind is int and value.bit_length() > MAX_STORED_INT_BITS:
        raise ExpressionLimitExceeded(_("number too large to store (more than 4,000 digits)"))
    if kind in _DATA_SCALARS:
        return value
    if kind in (list, tuple, set, frozenset, range):
        return [check_data(v, limits, _depth + 1, room) for v in value]
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) not in (str, int):
                raise ExpressionError("dictionary keys must be text or integers")
            if key == "typename":
                raise ExpressionError("'typename' is a reserved key")
            out[key] = check_data(item, limits, _depth + 1, room)
        return out
    raise ExpressionError(f"a {_type_name(value)} cannot be stored in process data")


def _type_name(value) -> str:
    if isinstance(value, (_Method, _Function)):
        return "function"
    return type(value).__name__


class _Function:
    """A safe built-in offered to expressions (only these can be called)."""

    __slots__ = ("name", "impl")

    def __init__(self, name, impl):
        self.name = name
        self.impl = impl

    def __repr__(self):
        return f"<function {self.name}>"


class _Method:
    """An allowed method bound to a data value, called through a guard."""

    __slots__ = ("obj", "name")

    def __init__(self, obj, name):
        self.obj = obj
        self.name = name

    def __repr__(self):
        return f"<method {type(self.obj).__name__}.{self.name}>"


# Attributes (plain values) and methods readable per exact type.  Nothing else exists.
_ATTRS = {
    date: {"year", "month", "day"},
    datetime: {"year", "month", "day", "hour", "minute", "second", "microsecond"},
    timedelta: {"days", "seconds", "microseconds"},
    Decimal: set(),
}
_METHODS = {
    str: {"lower", "upper", "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines",
          "startswith", "endswith", "replace", "join", "find", "rfind", "index", "rindex",
          "count", "isdigit", "isalpha", "isalnum", "isspace", "isnumeric", "isdecimal",
          "islower", "isupper", "title", "capitalize", "casefold", "partition", "rpartition",
          "removeprefix", "removesuffix"},
    list: {"append", "extend", "insert", "pop", "remove", "index", "count", "sort", "reverse",
           "copy", "clear"},
    tuple: {"index", "count"},
    dict: {"get", "keys", "values", "items", "copy", "pop", "update", "setdefault", "clear"},
    set: {"add", "discard", "remove", "union", "intersection", "difference", "issubset",
          "issuperset", "copy"},
    date: {"isoformat", "weekday", "isoweekday", "replace"},
    datetime: {"isoformat", "weekday", "isoweekday", "replace", "date", "timestamp"},
    timedelta: {"total_seconds"},
    Decimal: {"quantize"},
    float: {"is_integer"},
}


def _sized(value) -> int | None:
    if isinstance(value, (str, bytes, list, tuple, dict, set, frozenset)):
        return len(value)
    return None


def _now():
    return datetime.now(timezone.utc)


def _today():
    return datetime.now(timezone.utc).date()


class _Interpreter:
    def __init__(self, limits: Limits):
        self.limits = limits
        self.steps = 0
        self.alloc = 0
        # CPU time of this thread, not wall clock: a busy server must not fail a trivial
        # condition because the thread waited for a core; a runaway burns CPU and is stopped.
        self.deadline = time.thread_time() + limits.time_limit
        self.functions = self._functions()

    # ---- accounting
    def tick(self, node):
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise ExpressionLimitExceeded(
                _("stopped after %(n)d steps", n=self.limits.max_steps), getattr(node, "lineno", None))
        # Every 4th step: one guarded operation costs at most a few ms, so the overrun is small.
        if self.steps & 3 == 0 and time.thread_time() > self.deadline:
            raise ExpressionLimitExceeded(
                _("stopped: used more than %(seconds)s s of CPU time", seconds=self.limits.time_limit),
                getattr(node, "lineno", None))

    def charge(self, value):
        size = _sized(value)
        if size is not None:
            if size > self.limits.max_len:
                raise ExpressionLimitExceeded(_("value too large (%(n)d items)", n=size))
            self.alloc += size
            if self.alloc > self.limits.max_alloc:
                raise ExpressionLimitExceeded(_("expression allocated too much memory"))
        return value

    def need_len(self, size):
        if size > self.limits.max_len:
            raise ExpressionLimitExceeded(
                _("result would be too large (%(n)d items, limit %(limit)d)", n=size, limit=self.limits.max_len))

    def need_bits(self, bits):
        if bits > self.limits.max_int_bits:
            raise ExpressionLimitExceeded(
                _("number would be too large (about %(bits)d bits, limit %(limit)d)",
                  bits=int(bits), limit=self.limits.max_int_bits))

    # ---- safe functions
    def _functions(self):
        def _range(*args):
            r = range(*args)
            self.need_len(len(r))
            if len(r) > 100_000:
                raise ExpressionLimitExceeded(_("range longer than %(n)d", n=100_000))
            return r

        def _int(value=0, *args):
            _check_decimal_size(value, "int()")
            if args and isinstance(value, str) and len(value) > MAX_DECIMAL_EXPONENT:
                # Python limits decimal texts only: int("f" * 500000, 16) built 2,000,000 bits at once.
                raise ExpressionLimitExceeded(_("number too large for %(operation)s", operation="int()"))
            return int(value, *args)

        def _round(value, *args):
            _check_decimal_size(value, "round()")  # round(x) is int(x): written out in one call
            if args and isinstance(args[0], int) and abs(args[0]) > MAX_DECIMAL_EXPONENT:
                # round(5, -10000000) computed 10**10000000 inside one call, past the time limit.
                raise ExpressionLimitExceeded(_("number too large for %(operation)s", operation="round()"))
            return round(value, *args)

        def _sum(values, start=0):
            total = start
            for v in values:
                if type(v) not in (int, float, Decimal, bool):
                    raise ExpressionError("sum() adds numbers only")
                total = self.binop(ast.Add(), total, v)
            return total

        def _listing(fn):
            return lambda *a, **k: list(fn(*a, **k))

        def _timedelta(**kwargs):
            return timedelta(**kwargs)

        table = {  # OFFERED_FUNCTIONS names these
            "len": len, "abs": abs, "min": min, "max": max, "sum": _sum, "round": _round,
            "int": _int, "float": float, "str": str, "bool": bool, "list": list,
            "tuple": tuple, "dict": dict, "set": set, "sorted": sorted,
            "reversed": _listing(reversed), "enumerate": _listing(enumerate),
            "zip": _listing(zip), "range": _range, "any": any, "all": all,
            "Decimal": Decimal, "date": date, "datetime": datetime, "timedelta": _timedelta,
            "now": _now, "today": _today,
        }
        return {name: _Function(name, impl) for name, impl in table.items()}

    # ---- names
    def lookup(self, names, node):
        key = node.id
        if key in names:
            return names[key]
        if key in self.functions:
            return self.functions[key]
        if key in ("true", "false", "null"):  # Camunda EL spellings
            return {"true": True, "false": False, "null": None}[key]
        raise NameError(f"name '{key}' is not defined", name=key)

    # ---- expressions
    def eval(self, node, names):
        self.tick(node)
        method = getattr(self, "e_" + type(node).__name__, None)
        if method is None:  # defensive: the compile check should have refused it
            raise ForbiddenExpression(f"'{type(node).__name__}' is not allowed",
                                      getattr(node, "lineno", None))
        return method(node, names)

    def e_Expression(self, node, names):
        return self.eval(node.body, names)

    def e_Constant(self, node, names):
        return node.value

    def e_Name(self, node, names):
        return self.lookup(names, node)

    def e_List(self, node, names):
        return self.charge([self.eval(e, names) for e in node.elts])

    def e_Tuple(self, node, names):
        return self.charge(tuple(self.eval(e, names) for e in node.elts))

    def e_Set(self, node, names):
        return self.charge({self.eval(e, names) for e in node.elts})

    def e_Dict(self, node, names):
        if any(k is None for k in node.keys):
            raise ForbiddenExpression("'**' unpacking is not allowed", node.lineno)
        return self.charge({self.eval(k, names): self.eval(v, names)
                            for k, v in zip(node.keys, node.values)})

    def e_JoinedStr(self, node, names):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(value.value)
            else:
                parts.append(self.eval(value, names))
        return self.charge("".join(parts))

    def e_FormattedValue(self, node, names):
        value = self.eval(node.value, names)
        if isinstance(value, (_Function, _Method)):
            raise ExpressionError("cannot format a function")
        if node.conversion == ord("r"):
            value = repr(value)
        elif node.conversion == ord("a"):
            value = ascii(value)
        elif node.conversion == ord("s"):
            value = str(value)
        spec = ""
        if node.format_spec is not None:
            spec = "".join(v.value for v in node.format_spec.values)
        _check_decimal_size(value, "format")  # f"{x:f}" writes every digit out before the charge sees it
        return self.charge(format(value, spec))

    def e_UnaryOp(self, node, names):
        operand = self.eval(node.operand, names)
        op = node.op
        if isinstance(op, ast.Not):
            return not operand
        if isinstance(op, ast.USub):
            return -operand
        return +operand  # UAdd: the only other unary operator allowed

    def e_BoolOp(self, node, names):
        is_and = isinstance(node.op, ast.And)
        value = None
        for item in node.values:
            value = self.eval(item, names)
            if is_and and not value:
                return value
            if not is_and and value:
                return value
        return value

    def e_IfExp(self, node, names):
        return self.eval(node.body if self.eval(node.test, names) else node.orelse, names)

    def e_Compare(self, node, names):
        left = self.eval(node.left, names)
        for op, comp in zip(node.ops, node.comparators):
            right = self.eval(comp, names)
            if not _compare(op, left, right):
                return False
            left = right
        return True

    def e_BinOp(self, node, names):
        return self.binop(node.op, self.eval(node.left, names), self.eval(node.right, names))

    def binop(self, op, a, b):
        if isinstance(a, (_Function, _Method)) or isinstance(b, (_Function, _Method)):
            raise ExpressionError("functions cannot be used in arithmetic")
        if isinstance(op, ast.Add):
            la, lb = _sized(a), _sized(b)
            if la is not None and lb is not None:
                self.need_len(la + lb)
            return self.charge(a + b)
        if isinstance(op, ast.Sub):
            return a - b
        if isinstance(op, ast.Mult):
            for seq, n in ((a, b), (b, a)):
                if type(n) in (int, bool) and _sized(seq) is not None:
                    self.need_len(len(seq) * max(n, 0))
            if type(a) is int and type(b) is int:
                self.need_bits(a.bit_length() + b.bit_length())
            return self.charge(a * b)
        if isinstance(op, ast.Div):
            return a / b
        if isinstance(op, ast.FloorDiv):
            return a // b
        if isinstance(op, ast.Mod):
            if isinstance(a, (str, bytes)):
                raise ForbiddenExpression("'%' string formatting is not allowed (use f-strings)")
            return a % b
        if isinstance(op, ast.Pow):
            if type(b) in (int, bool) and type(a) in (int, bool):
                if b > 0 and abs(a) > 1:
                    self.need_bits(b * math.log2(abs(a)))
            elif isinstance(b, (int, float, Decimal)) and abs(b) > 10_000 and isinstance(a, Decimal):
                raise ExpressionLimitExceeded(_("exponent too large"))
            return a ** b
        raise ForbiddenExpression(f"operator {type(op).__name__} is not allowed")

    def e_Attribute(self, node, names):
        obj = self.eval(node.value, names)
        return self.attribute(obj, node.attr)

    def attribute(self, obj, attr):
        if attr.startswith("_"):
            raise ForbiddenExpression(f"attribute '{attr}' is not allowed")
        kind = type(obj)
        if kind is dict and attr in obj:
            return obj[attr]
        if attr in _ATTRS.get(kind, ()):
            return getattr(obj, attr)
        if attr in _METHODS.get(kind, ()):
            return _Method(obj, attr)
        if kind is dict:
            raise KeyError(attr)
        raise ForbiddenExpression(f"'{_type_name(obj)}' has no usable attribute '{attr}'")

    def e_Subscript(self, node, names):
        obj = self.eval(node.value, names)
        key = self.eval(node.slice, names)
        if isinstance(obj, (_Function, _Method)):
            raise ExpressionError("functions cannot be indexed")
        if type(obj) not in (list, tuple, str, dict, range, bytes):
            raise ExpressionError(f"a {_type_name(obj)} cannot be indexed")
        return self.charge(obj[key])

    def e_Slice(self, node, names):
        def part(n):
            return None if n is None else self.eval(n, names)
        return slice(part(node.lower), part(node.upper), part(node.step))

    def e_Call(self, node, names):
        func = self.eval(node.func, names)
        args = [self.eval(a, names) for a in node.args]
        kwargs = {k.arg: self.eval(k.value, names) for k in node.keywords}
        for name, value in [(None, a) for a in args] + list(kwargs.items()):
            # A safe function as an argument is fine only as a sort/min/max key.
            if isinstance(value, _Method) or (isinstance(value, _Function) and name != "key"):
                raise ExpressionError("functions cannot be passed as arguments")
        if isinstance(func, _Function):
            key = kwargs.get("key")
            if key is not None:
                if not isinstance(key, _Function):
                    raise ExpressionError("key= must be a built-in function such as len")
                kwargs["key"] = key.impl
            return self.charge(func.impl(*args, **kwargs))
        if isinstance(func, _Method):
            key = kwargs.get("key")
            if key is not None:
                if not isinstance(key, _Function):
                    raise ExpressionError("key= must be a built-in function such as len")
                kwargs["key"] = key.impl
            return self.charge(self.call_method(func.obj, func.name, args, kwargs))
        raise ExpressionError(f"a {_type_name(func)} is not callable")

    def call_method(self, obj, name, args, kwargs):
        if type(obj) is str and name == "replace" and len(args) >= 2:
            old, new = args[0], args[1]
            if isinstance(old, str) and isinstance(new, str):
                count = len(obj) + 1 if old == "" else obj.count(old)
                if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
                    count = min(count, args[2])
                self.need_len(len(obj) + count * (len(new) - len(old)))
        if type(obj) is str and name == "join" and args:
            items = list(args[0]) if not isinstance(args[0], (list, tuple)) else args[0]
            if not all(type(i) is str for i in items):
                raise ExpressionError("join() needs a list of text")
            self.need_len(sum(len(i) for i in items) + len(obj) * max(len(items) - 1, 0))
            args = [items] + list(args[1:])
        if type(obj) in (list, set, dict) and name in ("extend", "update", "union") and args:
            extra = _sized(args[0])
            self.need_len(len(obj) + (extra if extra is not None else 0))
        result = getattr(obj, name)(*args, **kwargs)
        if type(obj) in (list, set, dict):
            self.need_len(len(obj))
        if type(obj) is dict and name in ("keys", "values", "items"):
            # Views are not data (cannot be stored or looped over here): hand out a list.
            result = list(result) if name != "items" else [list(pair) for pair in result]
        return result

    def _comprehension(self, generators, names, emit):
        def loop(index, scope):
            if index == len(generators):
                emit(scope)
                return
            gen = generators[index]
            iterable = self.eval(gen.iter, scope)
            _check_iterable(iterable)
            for item in iterable:
                self.tick(gen)
                inner = ChainMap({}, scope) if index == 0 else scope
                self.assign(gen.target, item, inner)
                if all(self.eval(cond, inner) for cond in gen.ifs):
                    loop(index + 1, inner)
        loop(0, names)

    def e_ListComp(self, node, names):
        out = []

        def emit(scope):
            out.append(self.eval(node.elt, scope))
            if len(out) > self.limits.max_len:
                raise ExpressionLimitExceeded(_("list too long"))
        self._comprehension(node.generators, ChainMap({}, names), emit)
        return self.charge(out)

    # Generators are materialised: no generator object (and its frame) ever exists.
    e_GeneratorExp = e_ListComp

    def e_SetComp(self, node, names):
        out = set()

        def emit(scope):
            out.add(self.eval(node.elt, scope))
        self._comprehension(node.generators, ChainMap({}, names), emit)
        return self.charge(out)

    def e_DictComp(self, node, names):
        out = {}

        def emit(scope):
            out[self.eval(node.key, scope)] = self.eval(node.value, scope)
        self._comprehension(node.generators, ChainMap({}, names), emit)
        return self.charge(out)

    # ---- statements
    def assign(self, target, value, names, store_check=False):
        if isinstance(target, ast.Name):
            if target.id in self.functions:
                raise ExpressionError(f"'{target.id}' is a built-in name and cannot be assigned")
            names[target.id] = check_data(value, self.limits) if store_check else value
        elif isinstance(target, (ast.Tuple, ast.List)):
            items = list(value) if type(value) in (list, tuple, str, range) else None
            if items is None or len(items) != len(target.elts):
                raise ExpressionError("cannot unpack: wrong number of values")
            for sub, item in zip(target.elts, items):
                self.assign(sub, item, names, store_check)
        elif isinstance(target, ast.Subscript):
            obj = self.eval(target.value, names)
            if type(obj) not in (list, dict):
                raise ExpressionError(f"a {_type_name(obj)} does not support item assignment")
            key = self.eval(target.slice, names)
            obj[key] = check_data(value, self.limits) if store_check else value
            self.need_len(len(obj))
        else:
            raise ForbiddenExpression("only names and items can be assigned",
                                      getattr(target, "lineno", None))

    def run_block(self, body, names):
        for stmt in body:
            self.tick(stmt)
            try:
                self.run_stmt(stmt, names)
            except (ExpressionError, _Break, _Continue):
                raise
            except Exception as exc:
                raise _as_error(exc, stmt.lineno) from None

    def run_stmt(self, stmt, names):
        kind = type(stmt)
        if kind is ast.Expr:
            value = self.eval(stmt.value, names)
            return value
        if kind is ast.Assign:
            value = self.eval(stmt.value, names)
            for target in stmt.targets:
                self.assign(target, value, names, store_check=True)
            return None
        if kind is ast.AugAssign:
            if isinstance(stmt.target, ast.Name):
                current = self.lookup(names, stmt.target)
            else:
                current = self.eval(ast.Subscript(stmt.target.value, stmt.target.slice, ast.Load(),
                                                  lineno=stmt.lineno, col_offset=0), names)
            value = self.binop(stmt.op, current, self.eval(stmt.value, names))
            self.assign(stmt.target, value, names, store_check=True)
            return None
        if kind is ast.If:
            self.run_block(stmt.body if self.eval(stmt.test, names) else stmt.orelse, names)
            return None
        if kind is ast.For:
            iterable = self.eval(stmt.iter, names)
            _check_iterable(iterable)
            for item in list(iterable) if type(iterable) in (list, dict, set) else iterable:
                self.tick(stmt)
                self.assign(stmt.target, item, names, store_check=True)
                try:
                    self.run_block(stmt.body, names)
                except _Break:
                    break
                except _Continue:
                    continue
            return None
        if kind is ast.Break:
            raise _Break()
        if kind is ast.Continue:
            raise _Continue()
        if kind is ast.Pass:
            return None
        if kind is ast.Delete:
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    names.pop(target.id, None)
                elif isinstance(target, ast.Subscript):
                    obj = self.eval(target.value, names)
                    if type(obj) not in (list, dict):
                        raise ExpressionError("only list and dict items can be deleted")
                    del obj[self.eval(target.slice, names)]
                else:
                    raise ForbiddenExpression("only names and items can be deleted", stmt.lineno)
            return None
        raise ForbiddenExpression(f"'{kind.__name__}' is not allowed", stmt.lineno)


def _check_iterable(value):
    if type(value) not in (list, tuple, str, dict, set, frozenset, range):
        raise ExpressionError(f"cannot loop over a {_type_name(value)}")


def _compare(op, a, b):
    if isinstance(op, ast.Eq):
        return a == b
    if isinstance(op, ast.NotEq):
        return a != b
    # An empty field (None) is neither more nor less than anything and contains nothing, as
    # in FEEL and SQL: a condition on a field nobody filled in is false, not a process error.
    if isinstance(op, (ast.Lt, ast.LtE, ast.Gt, ast.GtE)) and (a is None or b is None):
        return False
    if isinstance(op, (ast.In, ast.NotIn)) and b is None:
        return isinstance(op, ast.NotIn)
    if isinstance(op, ast.Lt):
        return a < b
    if isinstance(op, ast.LtE):
        return a <= b
    if isinstance(op, ast.Gt):
        return a > b
    if isinstance(op, ast.GtE):
        return a >= b
    if isinstance(op, ast.In):
        _check_container(b)
        return a in b
    if isinstance(op, ast.NotIn):
        _check_container(b)
        return a not in b
    if isinstance(op, ast.Is):
        return a is b
    if isinstance(op, ast.IsNot):
        return a is not b
    raise ForbiddenExpression(f"comparison {type(op).__name__} is not allowed")


def _check_container(value):
    if type(value) not in (list, tuple, str, dict, set, frozenset, range, bytes):
        raise ExpressionError(f"'in' needs a list, text or dict, not a {_type_name(value)}")


def _as_error(exc: BaseException, line: int | None) -> ExpressionError:
    if isinstance(exc, ExpressionError):
        if exc.line is None:
            exc.line = line
        return exc
    if isinstance(exc, RecursionError):
        return ExpressionLimitExceeded(_("expression is nested too deeply"), line)
    if isinstance(exc, MemoryError):
        return ExpressionLimitExceeded(_("out of memory"), line)
    # Said in the reader's words (a Chinese designer read "ZeroDivisionError: division by zero"),
    # Python's own text after them for whoever looks closer.
    if isinstance(exc, KeyError):
        return ExpressionError(_("no key %(key)s", key=repr(exc.args[0])) if exc.args else _("no such key"), line)
    if isinstance(exc, NameError) and exc.name:
        return UnknownName(f"NameError: {exc}", exc.name, line)
    if isinstance(exc, TypeError):
        return MismatchedOperands(_("values of kinds that do not go together (%(detail)s)", detail=str(exc)), line)
    if isinstance(exc, ZeroDivisionError):
        return ExpressionError(_("division by zero"), line)
    if isinstance(exc, IndexError):
        return ExpressionError(_("no item at that position (%(detail)s)", detail=str(exc)), line)
    message = str(exc)
    return ExpressionError(f"{type(exc).__name__}: {message}" if message else type(exc).__name__, line)


def evaluate(source: str, names=None, limits: Limits = DEFAULT_LIMITS):
    """Evaluate an expression against ``names`` (a mapping, e.g. task data)."""
    program = compile_expression(source, limits)
    if program.literal is not None:
        return program.literal
    interp = _Interpreter(limits)
    try:
        result = interp.eval(program.tree, ChainMap({}, names if names is not None else {}))
    except ExpressionError as exc:
        raise _as_error(exc, exc.line or 1) from None
    except Exception as exc:
        raise _as_error(exc, 1) from None
    if isinstance(result, (_Function, _Method)):
        raise ExpressionError("an expression must give a value, not a function")
    if isinstance(result, range):
        result = list(result)
    return result


def execute(source: str, variables: dict, readonly=None, limits: Limits = DEFAULT_LIMITS) -> dict:
    """Run a script; assignments write into ``variables`` (the task data), in place.

    ``readonly`` names (e.g. data objects) can be read but not stored.
    """
    program = compile_script(source, limits)
    if program.literal is not None:
        return variables
    interp = _Interpreter(limits)
    names = ChainMap(variables, readonly or {})
    try:
        interp.run_block(program.tree.body, names)
    except (_Break, _Continue):
        raise ExpressionError("'break'/'continue' outside a loop") from None
    except ExpressionError:
        raise
    except Exception as exc:
        raise _as_error(exc, None) from None
    # Mutations through methods (a.append(a)) bypass the assignment check: check all now.
    for key in list(variables):
        try:
            variables[key] = check_data(variables[key], limits)
        except ExpressionError as exc:
            raise ExpressionError(f"variable '{key}': {exc.message}") from None
    return variables
