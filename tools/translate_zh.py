"""Fill Chinese translations into the zh_CN catalog from a JSON file of {msgid: msgstr}.

Usage: python tools/translate_zh.py translations.json  (only empty or fuzzy entries change)
"""
import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

path = Path(__file__).resolve().parent.parent / "app/translations/zh_Hans_CN/LC_MESSAGES/messages.po"
with path.open("rb") as fh:
    catalog = read_po(fh, locale="zh_Hans_CN")
pairs = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
for msgid, msgstr in pairs.items():
    message = catalog.get(msgid)
    if message is None:
        print(f"not in catalog: {msgid}", file=sys.stderr)
        continue
    message.string = msgstr
    message.flags.discard("fuzzy")
with path.open("wb") as fh:
    write_po(fh, catalog, width=0, sort_output=True, no_location=True)
