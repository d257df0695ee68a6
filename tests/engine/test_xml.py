"""Safe XML loading: hostile documents are refused with a clear problem, nothing is read."""
import pytest

from app.engine.xml import MAX_BYTES, DiagramError, load_xml

BPMN_HEAD = '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">'


def refused(data, **kw):
    with pytest.raises(DiagramError) as info:
        load_xml(data, **kw)
    problems = info.value.problems
    assert problems and all(set(p) == {"element_id", "message"} for p in problems)
    return problems[0]["message"]


def test_minimal_bpmn_loads():
    root = load_xml(BPMN_HEAD + "</bpmn:definitions>")
    assert root.get("id") == "d"


def test_xxe_file_is_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    doc = (f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]>'
           f'{BPMN_HEAD}<bpmn:process id="p" name="&x;"/></bpmn:definitions>')
    message = refused(doc)
    assert "DOCTYPE" in message
    assert "TOP-SECRET" not in message


def test_xxe_network_is_refused():
    doc = ('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "http://127.0.0.1:9/evil">]>'
           f'{BPMN_HEAD}<bpmn:process id="p" name="&x;"/></bpmn:definitions>')
    assert "DOCTYPE" in refused(doc)


def test_billion_laughs_is_refused():
    entities = '<!ENTITY a0 "lol">' + "".join(
        f'<!ENTITY a{i} "{("&a%d;" % (i - 1)) * 10}">' for i in range(1, 10))
    doc = f'<?xml version="1.0"?><!DOCTYPE d [{entities}]>{BPMN_HEAD}<x>&a9;</x></bpmn:definitions>'
    assert "DOCTYPE" in refused(doc)


def test_external_dtd_is_refused():
    doc = f'<?xml version="1.0"?><!DOCTYPE d SYSTEM "http://example.com/x.dtd">{BPMN_HEAD}</bpmn:definitions>'
    assert "DOCTYPE" in refused(doc)


def test_doctype_in_utf16_is_refused():
    doc = f'<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE d [<!ENTITY x "y">]>{BPMN_HEAD}</bpmn:definitions>'
    refused(doc.encode("utf-16-le"))


def test_oversized_is_refused():
    doc = BPMN_HEAD + "<!--" + "x" * MAX_BYTES + "--></bpmn:definitions>"
    assert "larger than" in refused(doc)


def test_deeply_nested_is_refused():
    doc = BPMN_HEAD + "<a>" * 200 + "</a>" * 200 + "</bpmn:definitions>"
    assert "nested" in refused(doc)


def test_not_xml_is_refused():
    assert "well-formed" in refused(b"this is not xml at all")
    assert "empty" in refused(b"   ")


def test_xml_that_is_not_bpmn_is_refused():
    assert "BPMN" in refused(b"<html><body>hi</body></html>")


def test_processing_instructions_are_dropped():
    root = load_xml(BPMN_HEAD + '<?xml-stylesheet href="http://evil/x.xsl"?></bpmn:definitions>')
    assert len(root) == 0


def test_refusals_are_translated_for_a_chinese_request(app):
    from flask_babel import force_locale

    with app.test_request_context(), force_locale("zh_CN"):
        assert refused('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "y">]><d/>') == "不允许 DOCTYPE 和实体（ENTITY）声明"
        assert refused(BPMN_HEAD + "<!--" + "x" * MAX_BYTES + "--></bpmn:definitions>") == "流程图超过 5 MB"
        assert refused(BPMN_HEAD + "<a>" * 200 + "</a>" * 200 + "</bpmn:definitions>") == "XML 嵌套超过 64 层"
        assert refused(BPMN_HEAD + "<a/>" * 50_001 + "</bpmn:definitions>") == "流程图的元素超过 50000 个"
        # lxml's own description of the fault is kept inside the translated frame
        assert refused(b"<a><b></a>").startswith("XML 格式不正确（第 1 行）：Opening and ending tag mismatch")
        assert refused(b"   ") == "流程图为空"
        assert refused(b"<html/>") == "不是 BPMN 2.0 文档（根元素必须是 bpmn:definitions）"
