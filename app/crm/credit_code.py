"""The unified social credit code (统一社会信用代码, GB 32100-2015) that identifies a Chinese
company: 17 characters from an alphabet without I, O, S, V and Z, then a check character
weighted 3^i mod 31. A typo in it would let one company be reported twice (防撞单)."""
import re
import unicodedata

from flask_babel import gettext as _

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_WEIGHTS = [pow(3, i, 31) for i in range(17)]
_SPACING = re.compile(r"[\s\u3000\-]+")


def check_character(first17: str) -> str:
    total = sum(ALPHABET.index(c) * w for c, w in zip(first17, _WEIGHTS))
    return ALPHABET[-total % 31]


def credit_code_as_stored(text: str) -> str:
    """The code in capitals without spacing, as records keep it (not checked). NFKC first: a
    Chinese input method types full-width characters (９１４４…ＸＧ)."""
    return _SPACING.sub("", unicodedata.normalize("NFKC", text)).upper()


def clean_credit_code(text: str) -> str:
    """The code as stored (:func:`credit_code_as_stored`), or ValueError saying what is wrong with it."""
    code = credit_code_as_stored(text)
    if re.fullmatch(r"\d(\.\d+)?E\+\d+", code):  # 9.13502E+17: a spreadsheet's number, digits gone
        raise ValueError(_("Excel turned this code into a number (%(shown)s) and dropped digits: format the column "
                           "as text and type the code again.", shown=text.strip()))
    if len(code) != 18:
        raise ValueError(_("A unified social credit code has 18 characters; this one has %(n)d.", n=len(code)))
    foreign = "".join(dict.fromkeys(c for c in code if c not in ALPHABET))
    if foreign:
        raise ValueError(_("A unified social credit code has no %(chars)s: it uses digits and capital letters "
                           "except I, O, S, V and Z.", chars=foreign))
    expected = check_character(code[:17])
    if code[17] != expected:
        raise ValueError(_("The last character does not match the first 17 (it would be %(expected)s): "
                           "please check the code for a typo.", expected=expected))
    return code


_ID_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]


def _id_card_check(first17: str) -> str:
    """ISO 7064 MOD 11-2, the check character of a resident identity card number."""
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS)) % 11]


def clean_tax_number(text: str) -> str:
    """A taxpayer identification number (纳税人识别号) in capitals without spacing, or ValueError.
    Since 2015 it is the company's unified social credit code (checked as such); older ones
    have 15 or 20 characters, or an individual business's 18-character identity card number."""
    code = _SPACING.sub("", unicodedata.normalize("NFKC", text)).upper()
    if not (code.isalnum() and code.isascii()):
        raise ValueError(_("A taxpayer number has only digits and capital letters."))
    if len(code) not in (15, 18, 20):
        raise ValueError(_("A taxpayer number has 15, 18 or 20 digits and capital letters; this one has %(n)d "
                           "characters.", n=len(code)))
    if len(code) == 18 and not (code[:17].isdigit() and code[17] == _id_card_check(code[:17])):
        return clean_credit_code(code)  # not an identity card number: a credit code, checked
    return code
