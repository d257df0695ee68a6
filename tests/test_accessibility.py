"""Screen-reader basics the templates must keep: every form control has a name a screen
reader can read (a placeholder is not one), and every page starts with a skip link."""
import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[1] / "app" / "templates"
CONTROL = re.compile(r"<(input|textarea|select)\b[^>]*>")
UNNAMED_TYPES = ('type="hidden"', 'type="submit"', 'type="button"')


def _unnamed_controls(source: str) -> list[str]:
    found = []
    for match in CONTROL.finditer(source):
        tag = match.group(0)
        if any(kind in tag for kind in UNNAMED_TYPES) or "aria-label" in tag:
            continue
        control_id = re.search(r'\bid="([^"]+)"', tag)
        if control_id and f'for="{control_id.group(1)}"' in source:
            continue
        before = source[:match.start()]
        if before.rfind("<label") > before.rfind("</label>"):
            continue  # inside its <label>
        found.append(f"line {before.count(chr(10)) + 1}: {tag[:100]}")
    return found


def test_every_form_control_in_the_templates_has_a_label():
    unnamed = {str(path.relative_to(TEMPLATES)): found for path in sorted(TEMPLATES.rglob("*.html"))
               if (found := _unnamed_controls(path.read_text(encoding="utf-8")))}
    assert unnamed == {}


def test_the_check_finds_a_control_named_only_by_its_placeholder():
    assert _unnamed_controls('<input name="q" placeholder="搜索">')
    assert not _unnamed_controls('<label for="q">搜索</label><input id="q" name="q">')
    assert not _unnamed_controls('<label>搜索 <input name="q"></label>')


def test_pages_start_with_a_skip_link_to_the_main_content(client, demo_people):
    client.post("/login", data={"username": "sales1", "password": "demo1234"})
    html = client.get("/customers").get_data(as_text=True)
    body = html[html.index("<body"):]
    first_link = re.search(r"<a\b[^>]*>", body).group(0)
    assert 'href="#main"' in first_link
    assert '<main id="main"' in html


def test_no_table_column_goes_without_a_header_a_screen_reader_can_read():
    """The action columns' headers were empty (<th></th>): their buttons read without a column."""
    empty = {str(path.relative_to(TEMPLATES)) for path in TEMPLATES.rglob("*.html")
             if re.search(r"<th\b[^>]*>\s*</th>", path.read_text(encoding="utf-8"))}
    assert empty == set()


def test_the_current_page_is_said_and_every_report_has_its_heading(client, demo_people):
    """The current page was marked by colour alone (no aria-current), and the report pages had
    no h1: a screen reader's list of headings started at "Per salesperson"."""
    client.post("/login", data={"username": "manager", "password": "demo1234"})
    customers = client.get("/customers").get_data(as_text=True)
    current = re.findall(r'<a\b[^>]*aria-current="page"[^>]*>', customers)
    assert len(current) == 1 and 'href="/customers"' in current[0]
    sales = client.get("/reports/sales").get_data(as_text=True)
    assert re.search(r"<h1\b[^>]*>销售报表</h1>", sales)
    assert re.search(r'<a class="nav-link active"[^>]*aria-current="page"[^>]*>销售报表</a>', sales)
