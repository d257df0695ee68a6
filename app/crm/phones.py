"""Customers' phone numbers: checked when typed (a letter or a missing digit is a typo that
would hide a duplicate and lose the customer's line) and reduced to a key for the duplicate
finder (防撞单). They are stored as typed: "0592-555 1234 转 8" reads better than its digits."""
import re
import unicodedata

from flask_babel import gettext as _

_EXTENSION = re.compile(r"(转|分机|ext\.?|x|#).*$", re.IGNORECASE)
# What a number may be written with besides digits: a leading +, spacing and punctuation.
_PUNCTUATION = set(" -().")
_DIGITS = set("0123456789")
MIN_DIGITS, MAX_DIGITS = 5, 18  # a service line (95588) … 00, a country code and 15 digits
MAX_EXTENSION_DIGITS = 6


def normalise_phone(phone: str | None) -> str:
    """The number's digits as dialled inside China, for the duplicate finder (防撞单): spacing,
    dashes, brackets, an extension (转 8001, ext. 12) and the country code do not count, so
    "0592-555 1234 转 8", "(0592) 5551234" and "+86 592 5551234" are one company's switchboard."""
    text = _EXTENSION.sub("", _half_width(phone or "").strip())
    digits = re.sub(r"\D", "", text)
    if text.startswith("+") or digits.startswith("00"):
        digits = digits[2:] if digits.startswith("00") else digits
        if not digits.startswith("86"):
            return ("00" + digits)[:20]  # abroad: dialled from China with 00
        digits = digits[2:]
        # A landline's area code dialled from abroad drops its trunk 0.
        return (digits if digits.startswith(("0", "1")) else "0" + digits)[:20]
    if digits.startswith("86") and len(digits) == 13 and digits[2] == "1":  # 86 and a mobile number
        return digits[2:]
    return digits[:20]


def _half_width(text: str) -> str:
    # A Chinese input method types full-width digits, brackets and spaces (０５９２ （）).
    return unicodedata.normalize("NFKC", text)


def clean_phone(text: str) -> str:
    """The number as typed (full-width characters made half-width, spacing tidied), or
    ValueError saying what is wrong with it."""
    text = re.sub(r"\s+", " ", _half_width(text).strip())
    extension = _EXTENSION.search(text)
    number = text[:extension.start()] if extension else text
    if extension:
        after_marker = extension.group()[len(extension.group(1)):]
        if not re.fullmatch(rf"[\s.:]*[0-9]{{1,{MAX_EXTENSION_DIGITS}}}\s*", after_marker):
            raise ValueError(_("An extension is written with its digits after 转, 分机, ext. or #, e.g. 转 8001."))
    body = number.strip()
    body = body[1:] if body.startswith("+") else body
    foreign = "".join(dict.fromkeys(c for c in body if c not in _DIGITS and c not in _PUNCTUATION))
    if foreign or not body:
        raise ValueError(_("A phone number is written with digits, spaces, + - ( ) and an extension (转 8001); "
                           "this one has %(chars)s.", chars=foreign or number))
    digits = "".join(c for c in number if c in _DIGITS)
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        raise ValueError(_("A phone number has %(low)d to %(high)d digits; this one has %(n)d.",
                           low=MIN_DIGITS, high=MAX_DIGITS, n=len(digits)))
    key = normalise_phone(number)
    if re.match("1[3-9]", key) and len(key) != 11:
        raise ValueError(_("A mobile number has 11 digits; this one has %(n)d.", n=len(key)))
    return text
