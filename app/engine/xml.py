"""Safe loading of BPMN XML.

Uploaded diagrams are untrusted.  lxml is configured so that nothing outside the document
is ever read (no DTD loading, no entity resolution, no network) and anything carrying a
DOCTYPE is refused outright: BPMN never needs one, and refusing it closes XXE, external DTDs
and entity-expansion bombs ("billion laughs") in one rule.  Size, depth and element count
are bounded so a hostile document cannot exhaust memory or recursion.
"""
from __future__ import annotations

import re

from flask_babel import gettext as _
from lxml import etree

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
MAX_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 64
MAX_ELEMENTS = 50_000

__all__ = ["DiagramError", "problem", "load_xml", "BPMN_NS", "MAX_BYTES", "MAX_DEPTH"]


def problem(element_id: str | None, message: str) -> dict:
    return {"element_id": element_id, "message": message}


class DiagramError(ValueError):
    """A diagram was refused; ``problems`` is a list of ``{element_id, message}``."""

    def __init__(self, problems: list[dict]):
        self.problems = list(problems)
        super().__init__("; ".join(
            f"{p['element_id']}: {p['message']}" if p.get("element_id") else p["message"]
            for p in self.problems) or _("invalid diagram"))


# A DOCTYPE in any of the encodings a parser would accept (UTF-8/ASCII or UTF-16).
_DOCTYPE = re.compile(rb"<!\s*DOCTYPE|<\x00!\x00D\x00O\x00C\x00T\x00Y\x00P\x00E|"
                      rb"\x00<\x00!\x00D\x00O\x00C\x00T\x00Y\x00P\x00E", re.I)
_ENTITY = re.compile(rb"<!\s*ENTITY", re.I)


def _parser() -> etree.XMLParser:
    # A new parser per call: lxml parsers are not thread-safe.
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
        huge_tree=False, remove_pis=True, collect_ids=False,
    )


def load_xml(data: bytes | str, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH,
             require_bpmn: bool = True):
    """Parse ``data`` into an lxml root element, or raise :class:`DiagramError`."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not isinstance(data, (bytes, bytearray)):
        raise DiagramError([problem(None, _("diagram must be XML text"))])
    if len(data) > max_bytes:
        raise DiagramError([problem(None, _("diagram is larger than %(mb)d MB", mb=max_bytes // (1024 * 1024)))])
    if not data.strip():
        raise DiagramError([problem(None, _("diagram is empty"))])
    if _DOCTYPE.search(data) or _ENTITY.search(data):
        raise DiagramError([problem(None, _("DOCTYPE and entity declarations are not allowed"))])
    try:
        root = etree.fromstring(bytes(data), _parser())
    except etree.XMLSyntaxError as exc:
        # lxml's own wording of the fault is kept; the frame around it is translated.
        line = getattr(exc, "lineno", None)
        message = (_("not well-formed XML (line %(line)d): %(error)s", line=line, error=exc.msg) if line
                   else _("not well-formed XML: %(error)s", error=exc.msg))
        raise DiagramError([problem(None, message)]) from None
    except ValueError as exc:  # e.g. unicode strings with an encoding declaration
        raise DiagramError([problem(None, _("cannot read XML: %(error)s", error=str(exc)))]) from None
    tree = root.getroottree()
    # Belt and braces: the byte scan above should have caught any DOCTYPE already.
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None or tree.docinfo.externalDTD is not None:
        raise DiagramError([problem(None, _("DOCTYPE declarations are not allowed"))])
    _check_shape(root, max_depth)
    if require_bpmn and root.tag != f"{{{BPMN_NS}}}definitions":
        raise DiagramError([problem(None, _("not a BPMN 2.0 document (root must be bpmn:definitions)"))])
    return root


def _check_shape(root, max_depth: int) -> None:
    depth = {root: 1}
    count = 0
    for el in root.iter():
        count += 1
        if count > MAX_ELEMENTS:
            raise DiagramError([problem(None, _("diagram has more than %(count)d elements", count=MAX_ELEMENTS))])
        if isinstance(el, etree._Entity) or el.tag is etree.Entity:
            raise DiagramError([problem(None, _("entity references are not allowed"))])
        parent = el.getparent()
        if parent is not None:
            d = depth[parent] + 1
            if d > max_depth:
                raise DiagramError([problem(el.get("id") if isinstance(el.tag, str) else None,
                                            _("XML nested deeper than %(depth)d levels", depth=max_depth))])
            depth[el] = d
